"""The sandbox SMTP server spoken to with smtplib: what it records, the replies it is told to give, its events."""
from __future__ import annotations

import base64
import email.policy
import smtplib
import ssl
from email.message import EmailMessage

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from smtp_testing import SMTP_PASSWORD, SMTP_USER, poll_until, receiving_events, running_mta


@pytest.fixture(scope="module")
def mta_server():
    """One sandbox with its SMTP server for this module."""
    with running_mta() as sandbox:
        yield sandbox


@pytest.fixture
def mta(mta_server):
    """The module's sandbox, reset and on default settings."""
    mta_server.reset()
    return mta_server


def client(mta) -> smtplib.SMTP:
    """A plain smtplib session to the sandbox."""
    session = smtplib.SMTP("127.0.0.1", mta.smtp_port, local_hostname="tester.local", timeout=5)
    session.ehlo()
    return session


def mail(to: str, subject: str = "Water advisory", message_id: str = "<m1@herald.test>") -> bytes:
    """A text-and-HTML message, CRLF lines as SMTP carries them."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"], message["Message-ID"] = "a@herald.test", to, subject, message_id
    message.set_content("Boil water before drinking.\n.A line starting with a dot\n")
    message.add_alternative("<p>Boil water before drinking.</p>", subtype="html")
    return message.as_bytes()


def test_every_taken_message_is_kept_parsed_back_and_never_deduplicated(mta):
    sent = mail("p@example.org")
    with client(mta) as session:
        session.sendmail("a@herald.test", ["p@example.org"], sent)
        session.sendmail("a@herald.test", ["p@example.org"], sent)

    first, second = mta.messages()
    assert (first["message_id"], second["message_id"]) == ("<m1@herald.test>", "<m1@herald.test>")
    assert first["subject"] == "Water advisory" and first["rcpt_tos"] == ["p@example.org"]
    assert first["text"] == "Boil water before drinking.\n.A line starting with a dot\n"
    assert first["html"] == "<p>Boil water before drinking.</p>\n"
    assert ["Message-ID", "<m1@herald.test>"] in first["headers"]
    assert base64.b64decode(first["raw_b64"]) == sent
    ledger = mta.ledger()
    assert ledger["accepted"] == 2 and ledger["by_recipient"] == {"p@example.org": 2}
    assert ledger["smtp"]["messages_per_connection"] == {str(first["connection"]): 2}


def test_scripted_addresses_and_drawn_rates_refuse_recipients(mta):
    mta.configure(smtp_address_replies={"Gone@Example.org": "550 5.1.1 No such user",
                                        "busy@example.org": "450 4.2.1 Mailbox busy"})
    with client(mta) as session:
        session.mail("a@herald.test")
        assert session.rcpt("gone@example.org") == (550, b"5.1.1 No such user")
        assert session.rcpt("busy@example.org") == (450, b"4.2.1 Mailbox busy")
        mta.configure(smtp_rcpt_temp_rate=1.0)
        assert session.rcpt("p@example.org")[0] == 451
        mta.configure(smtp_rcpt_temp_rate=0.0, smtp_rcpt_perm_rate=1.0)
        assert session.rcpt("p@example.org")[0] == 550

    ledger = mta.ledger()
    assert (ledger["temporary_failures"], ledger["permanent_failures"], ledger["accepted"]) == (2, 2, 0)


def test_a_drop_after_data_keeps_the_message_but_never_answers(mta):
    mta.configure(smtp_drop_after_data_rate=1.0)
    session = client(mta)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        session.sendmail("a@herald.test", ["p@example.org"], mail("p@example.org"))

    assert mta.ledger()["smtp"]["drops_after_data"] == 1 and len(mta.messages()) == 1


def test_a_connection_that_carried_its_limit_gets_421_at_the_next_mail(mta):
    mta.configure(smtp_max_messages_per_connection=1)
    session = client(mta)
    session.sendmail("a@herald.test", ["p@example.org"], mail("p@example.org"))

    assert session.mail("a@herald.test")[0] == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        session.noop()
    assert mta.ledger()["smtp"]["closed_at_limit"] == 1


def test_auth_checks_the_configured_credentials_and_can_be_required(mta):
    mta.configure(smtp_auth_required=True)
    with client(mta) as session:
        assert session.mail("a@herald.test")[0] == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            session.login(SMTP_USER, "wrong")
        assert refused.value.smtp_code == 535
        session.login(SMTP_USER, SMTP_PASSWORD)
        assert session.mail("a@herald.test")[0] == 250


def test_starttls_is_offered_with_the_test_ca(mta):
    with client(mta) as session:
        assert session.has_extn("starttls")
        session.starttls(context=ssl.create_default_context(cafile=mta.ca_file))
        session.ehlo()
        session.sendmail("a@herald.test", ["p@example.org"], mail("p@example.org"))

    assert mta.ledger()["smtp"]["starttls"] == 1 and mta.ledger()["accepted"] == 1


def test_events_are_shaped_and_signed_as_sendgrids(mta):
    key = serialization.load_der_public_key(base64.b64decode(mta.event_key()))
    with receiving_events() as receiver:
        mta.configure(smtp_events_url=receiver.url)
        with client(mta) as session:
            for n, to in enumerate(("bounce@example.org", "complaint@example.org", "ok@example.org")):
                session.sendmail("a@herald.test", [to], mail(to, message_id=f"<m{n}@herald.test>"))
        posts = receiver.wait_for(3)

        for headers, body in posts:
            signature = base64.b64decode(headers["x-twilio-email-event-webhook-signature"])
            stamp = headers["x-twilio-email-event-webhook-timestamp"]
            key.verify(signature, stamp.encode() + body, ec.ECDSA(hashes.SHA256()))  # raises if not
        events = {(e["email"], e["event"]): e for e in receiver.events()}

    assert set(events) == {("bounce@example.org", "bounce"), ("complaint@example.org", "delivered"),
                           ("complaint@example.org", "spamreport"), ("ok@example.org", "delivered")}
    bounce = events[("bounce@example.org", "bounce")]
    assert bounce["smtp-id"] == "<m0@herald.test>" and bounce["status"] == "5.1.1" and bounce["type"] == "bounce"
    assert "smtp-id" not in events[("complaint@example.org", "spamreport")]
    assert len({e["sg_event_id"] for e in events.values()}) == 4


def test_unique_args_of_x_smtpapi_come_back_in_every_event(mta):
    message = EmailMessage()
    message["To"], message["X-SMTPAPI"] = "complaint@example.org", '{"unique_args": {"herald_message_id": "m9@h"}}'
    message.set_content("hello")
    with receiving_events() as receiver:
        mta.configure(smtp_events_url=receiver.url)
        with client(mta) as session:
            session.sendmail("a@herald.test", ["complaint@example.org"], message.as_bytes())
        assert poll_until(lambda: len(receiver.events()) == 2, 5.0)
        assert {e["herald_message_id"] for e in receiver.events()} == {"m9@h"}


def test_bad_smtp_settings_are_refused_whole(mta):
    response = mta.http.post(f"{mta.base_url}/_sandbox/config",
                             json={"smtp_rcpt_temp_rate": 0.5, "smtp_address_replies": {"x@example.org": "250 ok"}})

    assert response.status_code == 400
    assert mta.http.get(f"{mta.base_url}/_sandbox/config").json()["smtp_rcpt_temp_rate"] == 0.0


def test_reset_forgets_messages_and_counts(mta):
    with client(mta) as session:
        session.sendmail("a@herald.test", ["p@example.org"], mail("p@example.org"))
    mta.reset()

    assert mta.messages() == [] and mta.ledger()["smtp"]["accepted"] == 0
