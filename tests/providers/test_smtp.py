"""The SMTP adapter's contract rows against the sandbox's SMTP server (aiosmtpd), told each fault over its
control API: what the server recorded, each reply's typed outcome, where doubt starts, sessions reused."""
from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import dkim
import pytest
from dkim_keys import DOMAIN, SELECTOR, write_key
from smtp_testing import receiving_events, running_mta

from providers import registry
from providers.base import (Accepted, GatewayRejected, NotSent, OutboundMessage, PermanentError, RateLimited,
                            TemporaryError, UnknownOutcome, WebhookRequest)
from providers.email_message import HERALD_ID_HEADER


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


@pytest.fixture
def smtp(mta):
    """Build SMTP adapters aimed at the sandbox (checked as an account is); their sessions closed afterwards."""
    built = []

    def build(**overrides):
        built.append(registry.build_account("mail_test", "smtp", mta.settings(**overrides)))
        return built[-1]

    yield build
    for adapter in built:
        adapter.close()


def email(n: int, to: str = "", **fields) -> OutboundMessage:
    """Message n to person n (or `to`), with a subject."""
    return OutboundMessage(message_id=n, to=to or f"person{n}@example.org", body=f"Hello {n}",
                           idempotency_key=f"b1:{n}", subject=f"Advisory {n}", **fields)


def test_accepted_with_every_header_read_back_from_the_server(mta, smtp):
    message = email(7, html="<p>Hello <b>7</b></p>", unsubscribe_url="https://herald.example/u/7?t=abc")

    accepted = smtp().send(message)

    [kept] = mta.messages()
    headers = dict(kept["headers"])
    assert isinstance(accepted, Accepted) and kept["message_id"] == f"<{accepted.provider_message_id}>"
    assert (kept["mail_from"], kept["rcpt_tos"], kept["to"]) == ("news@herald.test", [message.to], message.to)
    assert kept["from"] == "Herald News <news@herald.test>" and kept["subject"] == "Advisory 7"
    assert (kept["text"], kept["html"]) == ("Hello 7\n", "<p>Hello <b>7</b></p>\n")
    assert kept["content_type"] == "multipart/alternative" and headers[HERALD_ID_HEADER] == "7"
    assert headers["List-Unsubscribe"] == "<https://herald.example/u/7?t=abc>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mta.ledger()["by_recipient"] == {message.to: 1}


def test_every_attempt_at_one_message_carries_one_message_id(mta, smtp):
    adapter = smtp()

    assert adapter.send(email(1)).provider_message_id == adapter.send(email(1)).provider_message_id
    assert len(mta.messages()) == 2  # the server keeps both: SMTP has no idempotency key


@pytest.mark.parametrize(("reply", "kind", "code"), [
    ("450 4.2.1 Mailbox busy", TemporaryError, "smtp_450"),
    ("451 4.7.1 Greylisted, come back later", TemporaryError, "smtp_451"),
    ("452 4.5.3 Too many recipients", RateLimited, "smtp_452"),
    ("550 5.1.1 No such user", PermanentError, "smtp_550"),
    ("551 5.1.6 User has moved", PermanentError, "smtp_551"),
    ("553 5.1.3 Bad address syntax", PermanentError, "smtp_553"),
    ("554 5.7.1 Relay access denied", PermanentError, "smtp_554"),
], ids=lambda v: v.split()[0] if isinstance(v, str) and v[:1].isdigit() else None)
def test_each_rcpt_refusal_is_its_typed_outcome(mta, smtp, reply, kind, code):
    mta.configure(smtp_address_replies={"person1@example.org": reply})

    with pytest.raises(kind) as caught:
        smtp().send(email(1))
    assert type(caught.value) is kind and caught.value.code == code and caught.value.gateway_fault is None
    assert mta.ledger()["accepted"] == 0


def test_drawn_refusals_keep_the_session_for_the_next_message(mta, smtp):
    adapter = smtp()
    mta.configure(smtp_rcpt_perm_rate=1.0)
    with pytest.raises(PermanentError):
        adapter.send(email(1))
    mta.configure(smtp_rcpt_perm_rate=0.0)

    assert isinstance(adapter.send(email(2)), Accepted)
    assert mta.ledger()["smtp"]["connections"] == 1


def test_421_closes_the_session_and_says_the_server_is_down(mta, smtp):
    mta.configure(smtp_address_replies={"person1@example.org": "421 4.3.2 Shutting down"})

    with pytest.raises(TemporaryError) as caught:
        smtp().send(email(1))
    assert caught.value.code == "smtp_421" and caught.value.gateway_fault == "down"


def test_wrong_credentials_are_the_accounts_fault(mta, smtp):
    with pytest.raises(GatewayRejected) as caught:
        smtp(password="wrong").send(email(1))
    assert caught.value.code == "smtp_535" and caught.value.gateway_fault == "rejected"


def test_no_credentials_where_auth_is_required_is_the_accounts_fault(mta, smtp):
    mta.configure(smtp_auth_required=True)

    with pytest.raises(GatewayRejected) as caught:
        smtp(username="", password="").send(email(1))
    assert caught.value.code == "smtp_530"


def test_a_refused_connection_is_not_sent_and_stalls_the_rest_of_a_bulk(smtp, closed_port):
    results = smtp(port=closed_port).send_bulk([email(1), email(2), email(3)])

    assert all(type(r) is NotSent and r.code == "connect_failed" and r.gateway_fault == "down" for r in results)


def test_a_drop_after_data_is_an_unknown_outcome_and_the_server_has_the_message(mta, smtp):
    mta.configure(smtp_drop_after_data_rate=1.0)

    with pytest.raises(UnknownOutcome) as caught:
        smtp().send(email(1))
    assert caught.value.code == "dropped_after_data" and caught.value.gateway_fault == "down"
    # The doubt is real: the server took it, and a blind resend would be a second email.
    assert mta.ledger()["smtp"]["drops_after_data"] == 1 and len(mta.messages()) == 1


def test_one_session_carries_many_messages_with_rset_between(mta, smtp):
    adapter = smtp()

    results = [adapter.send(email(n)) for n in range(5)] + adapter.send_bulk([email(n) for n in range(5, 10)])

    assert all(isinstance(r, Accepted) for r in results)
    counts = mta.ledger()["smtp"]
    assert (counts["connections"], counts["sessions"], counts["auth_ok"]) == (1, 1, 1)
    assert list(counts["messages_per_connection"].values()) == [10] and counts["rsets"] == 9


def test_lanes_sending_at_once_each_hold_their_own_session(mta, smtp):
    adapter = smtp()

    with ThreadPoolExecutor(max_workers=4) as lanes:
        results = list(lanes.map(adapter.send, [email(n) for n in range(40)]))

    assert all(isinstance(r, Accepted) for r in results)
    counts, ledger = mta.ledger()["smtp"], mta.ledger()
    assert counts["accepted"] == 40 and counts["connections"] <= 4 and len(ledger["by_recipient"]) == 40
    assert len({m["message_id"] for m in mta.messages()}) == 40


def test_a_session_is_renewed_after_its_message_limit(mta, smtp):
    smtp(max_messages_per_session=4).send_bulk([email(n) for n in range(10)])

    counts = mta.ledger()["smtp"]
    assert counts["connections"] == 3 and counts["max_messages_per_connection"] == 4
    assert counts["closed_at_limit"] == 0


def test_a_session_the_server_closes_is_replaced_without_losing_a_message(mta, smtp):
    mta.configure(smtp_max_messages_per_connection=3)

    results = smtp().send_bulk([email(n) for n in range(10)])

    assert all(isinstance(r, Accepted) for r in results)
    counts = mta.ledger()["smtp"]
    assert counts["accepted"] == 10 and counts["connections"] == 4 and counts["closed_at_limit"] == 3


def test_starttls_checks_the_certificate(mta, smtp):
    assert isinstance(smtp(starttls=True, tls_ca_file=mta.ca_file).send(email(1)), Accepted)
    assert mta.ledger()["smtp"]["starttls"] == 1

    with pytest.raises(GatewayRejected) as caught:
        smtp(starttls=True).send(email(2))  # the system's CAs do not know the sandbox's
    assert caught.value.code == "tls_certificate"


def test_probe_opens_a_session_and_sends_nothing(mta, smtp):
    smtp().probe()

    with pytest.raises(GatewayRejected):
        smtp(password="wrong").probe()
    assert mta.ledger()["smtp"]["connections"] == 2 and mta.ledger()["accepted"] == 0


def test_a_dkim_signed_message_verifies_as_the_server_received_it(mta, smtp, tmp_path):
    path, dns = write_key(tmp_path)
    message = email(3, html="<p>Boil water.</p>\n.a line that starts with a dot",
                    unsubscribe_url="https://herald.example/u/3")

    smtp(dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_path=path).send(message)

    received = base64.b64decode(mta.messages()[0]["raw_b64"])
    assert received.startswith(b"DKIM-Signature:") and dkim.verify(received, dnsfunc=dns)


def callback(headers: dict, body: bytes) -> WebhookRequest:
    """An event post as Herald's webhook view hands it to the adapter."""
    return WebhookRequest(method="POST", url="http://127.0.0.1/webhooks/mail", headers=headers, form={}, body=body)


def test_the_relays_signed_events_settle_what_was_sent(mta, smtp):
    adapter = smtp(event_public_key=mta.event_key(), sendgrid_smtpapi=True)
    recipients = ["bounce1@example.org", "full1@example.org", "complaint1@example.org", "fine1@example.org"]
    with receiving_events() as receiver:
        mta.configure(smtp_events_url=receiver.url)
        sent = {to: adapter.send(email(n, to=to)).provider_message_id for n, to in enumerate(recipients)}
        posts = receiver.wait_for(len(recipients))

    requests = [callback(headers, body) for headers, body in posts]
    assert all(adapter.verify(request) for request in requests)
    reports = {(r.provider_message_id, r.status) for request in requests for r in adapter.parse_reports(request)}
    assert reports == {(sent["bounce1@example.org"], "failed"), (sent["full1@example.org"], "unreachable"),
                       (sent["complaint1@example.org"], "delivered"), (sent["fine1@example.org"], "delivered")}
    [opt_out] = [o for request in requests for o in adapter.parse_opt_outs(request)]
    assert (opt_out.address, opt_out.reason) == ("complaint1@example.org", "complaint")
    assert opt_out.provider_message_id == sent["complaint1@example.org"]  # from X-SMTPAPI's unique_args


def test_an_event_post_with_a_bad_signature_is_refused(mta, smtp):
    adapter = smtp(event_public_key=mta.event_key())
    with receiving_events() as receiver:
        mta.configure(smtp_events_url=receiver.url)
        adapter.send(email(1, to="bounce@example.org"))
        [(headers, body)] = receiver.wait_for(1)

    assert adapter.verify(callback(headers, body))
    assert not adapter.verify(callback(headers, body.replace(b"bounce", b"delivered", 1)))
    assert not smtp().verify(callback(headers, body))  # no key configured: nothing verifies
