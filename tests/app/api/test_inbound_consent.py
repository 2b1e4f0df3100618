"""Consent from every gateway: inbound STOP/START by Africa's Talking, Twilio and Infobip, in the person's order.

Each gateway's inbound callback is posted as the gateway posts it (Twilio signed over the
account's inbound_url, Infobip's JSON with its secret in the URL), and the suppression list,
the keyword records and the transactional path are read back from PostgreSQL.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from herald_testing import make_service, truncate_all
from sqlalchemy import text

from app.extensions import db
from providers.twilio import sign

TWILIO_TOKEN = "tw-token"
TWILIO_INBOUND = "http://localhost/webhooks/tw_main/inbound"
ACCOUNTS = {
    "at_main": {"provider": "africastalking", "base_url": "http://127.0.0.1:8025", "username": "u",
                "api_key": "k", "webhook_secret": "secret-main"},
    "tw_main": {"provider": "twilio", "base_url": "http://127.0.0.1:8027", "account_sid": "AC123",
                "auth_token": TWILIO_TOKEN, "sender": "+15005550006", "inbound_url": TWILIO_INBOUND},
    "ib_zm": {"provider": "infobip", "base_url": "http://127.0.0.1:8028", "api_key": "k",
              "webhook_secret": "secret-ib"},
}
PERSON = "+260961000001"


@pytest.fixture(scope="module")
def consent_app(database_url, redis_url):
    """An app with one account of each HTTP gateway; inbound to any number belongs to the first service."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                       "HERALD_ACCOUNTS": json.dumps(ACCOUNTS), "HERALD_SMS_PROVIDER": "at_main",
                       "HERALD_INBOUND_SERVICES": "*=1",
                       "HERALD_OPTOUT_REPLY": "You will get no more messages. Send START to resubscribe."})


@pytest.fixture
def setup(consent_app, redis_url):
    """(client, service) on emptied stores; the service has id 1, which inbound messages map to."""
    truncate_all(consent_app, redis_url)
    service = make_service(consent_app, "programme")
    assert service.service_id == 1
    return consent_app.test_client(), service


def now() -> datetime:
    """The current UTC time, as a gateway stamps what it receives."""
    return datetime.now(timezone.utc)


def at_inbound(client, text_, inbound_id, date, sender=PERSON):
    """Africa's Talking: a form post with its secret in the URL."""
    return client.post("/webhooks/at_main/secret-main/inbound", data={
        "from": sender, "to": "12345", "text": text_, "date": date, "id": inbound_id, "linkId": "l"})


def twilio_inbound(client, text_, sid, sender=PERSON, token=TWILIO_TOKEN):
    """Twilio: a form post signed over the inbound URL with the auth token."""
    form = {"AccountSid": "AC123", "MessageSid": sid, "From": sender, "To": "+15005550006", "Body": text_}
    return client.post("/webhooks/tw_main/inbound", data=form,
                       headers={"X-Twilio-Signature": sign(token.encode(), TWILIO_INBOUND, form)})


def infobip_inbound(client, text_, message_id, received_at, sender=PERSON, secret="secret-ib"):
    """Infobip: a JSON results[] post with its secret in the URL."""
    body = {"results": [{"messageId": message_id, "from": sender.lstrip("+"), "to": "447860099299",
                         "text": text_, "cleanText": text_, "keyword": text_.split()[0].upper(),
                         "receivedAt": received_at, "smsCount": 1}], "messageCount": 1, "pendingMessageCount": 0}
    return client.post(f"/webhooks/ib_zm/{secret}/inbound", json=body)


def listed(app) -> list[str]:
    """Every suppressed address of service 1."""
    with app.app_context():
        return list(db.session.execute(text("SELECT address FROM opt_outs WHERE service_id = 1")).scalars())


def send(client, service, **payload):
    """POST /v1/messages to the person."""
    return client.post("/v1/messages", headers=service.headers, json={"to": PERSON, "body": "Your code", **payload})


def test_stop_from_each_gateway_suppresses_and_the_transactional_post_is_refused(setup, consent_app):
    client, service = setup
    posts = [lambda: at_inbound(client, "STOP", "at-1", now().strftime("%Y-%m-%d %H:%M:%S")),
             lambda: twilio_inbound(client, "stop please", "SM1"),
             lambda: infobip_inbound(client, "Leka", "ib-1", now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000")]
    for post in posts:
        # Between gateways, START again (through the API) so each gateway's STOP is the one that acts:
        # each is sent after the operator's change, or it would be a stale keyword.
        time.sleep(0.01)
        client.delete("/v1/opt-outs", json={"address": PERSON}, headers=service.headers)
        assert send(client, service).status_code == 202
        time.sleep(1.0)  # Africa's Talking dates to the second
        answer = post()
        assert answer.status_code == 200, answer.data
        assert listed(consent_app) == [PERSON]
        refused = send(client, service)
        assert refused.status_code == 422
        assert refused.json["error"]["code"] == "recipient_opted_out"
        assert refused.json["error"]["details"]["field"] == "to"
    with consent_app.app_context():
        sources = list(db.session.execute(text(
            "SELECT source FROM opt_out_events WHERE action = 'opt_out' ORDER BY id")).scalars())
    assert sources == ["at_main:at-1", "tw_main:SM1", "ib_zm:ib-1"]


def test_twilio_is_answered_with_empty_twiml_and_a_bad_signature_changes_nothing(setup, consent_app):
    client, _service = setup
    forged = twilio_inbound(client, "STOP", "SM9", token="not-the-token")
    assert forged.status_code == 403 and listed(consent_app) == []
    answer = twilio_inbound(client, "STOP", "SM9")
    assert answer.status_code == 200 and answer.content_type.startswith("text/xml")
    assert b"<Response></Response>" in answer.data


def test_infobip_with_a_wrong_secret_is_403_and_a_bad_body_400(setup, consent_app):
    client, _service = setup
    assert infobip_inbound(client, "STOP", "ib-2", "2026-12-02T10:00:00.000+0000",
                           secret="wrong").status_code == 403
    assert client.post("/webhooks/ib_zm/secret-ib/inbound", json={"results": []}).status_code == 400
    assert client.post("/webhooks/nobody/secret/inbound", data={"from": PERSON}).status_code == 404
    assert listed(consent_app) == []


def test_a_start_older_than_the_newest_stop_changes_nothing(setup, consent_app):
    client, _service = setup
    assert at_inbound(client, "STOP", "a-2", "2026-12-02 10:00:10").json["outcome"] == "applied"
    # The person sent START at 10:00:05 and STOP at 10:00:10; the START arrives last.
    late = at_inbound(client, "START", "a-1", "2026-12-02 10:00:05")
    assert late.json == {"action": "opt_in", "outcome": "stale",
                         "messages": [{"action": "opt_in", "outcome": "stale"}]}
    assert listed(consent_app) == [PERSON]


def test_a_replayed_start_after_a_newer_stop_is_a_duplicate(setup, consent_app):
    client, _service = setup
    at_inbound(client, "STOP", "a-1", "2026-12-02 10:00:00")
    assert at_inbound(client, "START", "a-2", "2026-12-02 10:00:05").json["outcome"] == "applied"
    assert at_inbound(client, "STOP", "a-3", "2026-12-02 10:00:09").json["outcome"] == "applied"
    # The gateway posts the START callback again (same id): dropped, whatever its date says.
    assert at_inbound(client, "START", "a-2", "2026-12-02 10:00:05").json["outcome"] == "duplicate"
    assert listed(consent_app) == [PERSON]


def test_a_repeated_stop_that_changed_nothing_still_outranks_an_older_start(setup, consent_app):
    client, _service = setup
    at_inbound(client, "STOP", "a-1", "2026-12-02 10:00:00")
    assert at_inbound(client, "STOP", "a-3", "2026-12-02 10:00:20").json["outcome"] == "unchanged"
    assert at_inbound(client, "START", "a-2", "2026-12-02 10:00:10").json["outcome"] == "stale"
    assert listed(consent_app) == [PERSON]


def test_a_keyword_dated_in_the_future_counts_as_now(setup, consent_app):
    client, service = setup
    at_inbound(client, "STOP", "a-1", "2099-01-01 00:00:00")  # a gateway clock far ahead
    assert client.delete("/v1/opt-outs", json={"address": PERSON}, headers=service.headers).status_code == 200
    assert at_inbound(client, "STOP", "a-2", "2026-12-02 10:00:00").json["outcome"] == "stale"
    assert at_inbound(client, "STOP", "a-3", "").json["outcome"] == "applied"  # no date: received now


def test_an_operator_opt_in_outranks_a_late_inbound_stop_sent_before_it(setup, consent_app):
    client, service = setup
    at_inbound(client, "STOP", "a-1", "2026-12-02 10:00:00")
    client.delete("/v1/opt-outs", json={"address": PERSON}, headers=service.headers)  # now, after 10:00
    assert at_inbound(client, "STOP", "a-0", "2026-12-02 09:59:00").json["outcome"] == "stale"
    assert listed(consent_app) == []


def test_a_stop_from_an_unmapped_number_is_200_and_changes_nothing(setup, consent_app):
    client, _service = setup
    consent_app.config["HERALD_INBOUND_SERVICES"] = "12345=1"
    try:
        answer = twilio_inbound(client, "STOP", "SM5")  # to +15005550006: no service
    finally:
        consent_app.config["HERALD_INBOUND_SERVICES"] = "*=1"
    assert answer.status_code == 200 and listed(consent_app) == []


def test_the_opt_out_confirmation_is_the_one_exempt_message_and_is_audited(setup, consent_app):
    client, _service = setup
    at_inbound(client, "STOP", "a-1", "2026-12-02 10:00:00")
    at_inbound(client, "STOP", "a-1", "2026-12-02 10:00:00")  # replayed: no second confirmation
    with consent_app.app_context():
        rows = db.session.execute(text(
            "SELECT id, recipient, suppression_exempt FROM messages WHERE broadcast_id IS NULL")).all()
        audits = db.session.execute(text(
            "SELECT action, reason, details FROM audit_log WHERE action = 'suppression_override'")).all()
    assert [(r.recipient, r.suppression_exempt) for r in rows] == [(PERSON, "optout_confirmation")]
    assert [(a.reason, a.details) for a in audits] == [
        ("optout_confirmation", {"message_id": rows[0].id, "stage": "intake"})]


def test_a_service_critical_template_reaches_a_suppressed_number_audited(setup, consent_app):
    client, service = setup
    saved = client.post("/v1/templates", headers=service.headers,
                        json={"name": "otp", "body": "Your code is ((code))", "service_critical": True})
    assert saved.status_code == 201 and saved.json["service_critical"] is True
    client.post("/v1/templates", headers=service.headers, json={"name": "promo", "body": "Seeds on sale"})
    client.post("/v1/opt-outs", headers=service.headers, json={"address": PERSON})
    plain = client.post("/v1/messages", headers=service.headers, json={"to": PERSON, "template": "promo"})
    assert plain.status_code == 422 and plain.json["error"]["code"] == "recipient_opted_out"
    critical = client.post("/v1/messages", headers=service.headers,
                           json={"to": PERSON, "template": "otp", "personalisation": {"code": "4821"}})
    assert critical.status_code == 202, critical.json
    with consent_app.app_context():
        audits = db.session.execute(text(
            "SELECT actor, action, reason, details FROM audit_log ORDER BY id")).all()
    assert [(a.action, a.reason) for a in audits] == [("template_service_critical", "otp"),
                                                      ("suppression_override", "service_critical")]
    assert audits[1].details == {"message_id": critical.json["id"], "stage": "intake"}
    assert PERSON not in json.dumps([dict(a._mapping) for a in audits], default=str)


def test_service_critical_must_be_a_boolean_and_allowed_on_the_channel(setup):
    client, service = setup
    wrong = client.post("/v1/templates", headers=service.headers,
                        json={"name": "otp", "body": "Code", "service_critical": "yes"})
    assert wrong.status_code == 422 and wrong.json["error"]["details"]["field"] == "service_critical"
    email = client.post("/v1/templates", headers=service.headers,
                        json={"name": "otp", "channel": "email", "body": "Code", "service_critical": True})
    assert email.status_code == 422 and email.json["error"]["details"]["field"] == "service_critical"
