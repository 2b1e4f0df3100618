"""Consent end to end on the real stack: a STOP by each gateway mid-broadcast, then every other path.

The broadcast goes over SMPP to the sandbox SMSC, paced so the STOP lands mid-way, in batches of
20 claimed in id order, so the person (the last row) is claimed after the STOP (an SMPP bulk unit
sends its rows in no fixed order, so within one batch the person could go first); the sandbox
does not deduplicate, so its ledger counts every send. The STOP comes by Africa's Talking's
inbound form, Twilio's signed webhook, Infobip's JSON, or the SMSC's mobile-originated
deliver_sm on the worker's bind. Afterwards the person gets nothing more on any path (the
broadcast, a segment broadcast, a plain transactional message, which is 422), and a
service-critical one goes out once and is audited at intake and at send.
"""
from __future__ import annotations

import json
import time

import pytest
import requests
from herald_testing import recipients, wait_until
from pipeline_checks import wait_completed
from sqlalchemy import text

from app.extensions import db
from providers.twilio import sign
from scripts.testbed import WEBHOOK_SECRET, Stack

COUNT = 40
TWILIO_TOKEN = "tw-token"
INFOBIP_SECRET = "ib-secret"


def accounts(stack: Stack) -> dict:
    """The SMPP account the stack sends with, and one inbound-only account of each HTTP gateway."""
    return {
        "smpp": stack.smpp_account(),
        "africastalking": {"provider": "africastalking", "base_url": stack.sandbox_url, "username": "sandbox",
                           "api_key": "sandbox-key", "webhook_secret": WEBHOOK_SECRET},
        "tw": {"provider": "twilio", "base_url": stack.sandbox_url, "account_sid": "ACe2e", "auth_token": TWILIO_TOKEN,
               "sender": "+15005550006", "inbound_url": f"{stack.api_url}/webhooks/tw/inbound"},
        "ib": {"provider": "infobip", "base_url": stack.sandbox_url, "api_key": "sandbox-key",
               "webhook_secret": INFOBIP_SECRET},
    }


@pytest.fixture(scope="module")
def stack(database_url, redis_url, tmp_path_factory):
    """API, workers, beat and sandbox; SMS goes over SMPP; inbound to any number belongs to service 1."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("consent")), HERALD_BATCH_SIZE=20,
                    HERALD_INBOUND_SERVICES="*=1")
    running.env.update(HERALD_ACCOUNTS=json.dumps(accounts(running)), HERALD_SMS_PROVIDER="smpp")
    try:
        yield running.start_all()
    finally:
        running.stop()


def stop_by(gateway: str, stack: Stack, person: str) -> None:
    """The person sends STOP through one gateway, posted as that gateway posts it."""
    if gateway == "smpp":
        answer = requests.post(f"{stack.sandbox_url}/_sandbox/smpp/mo",
                               json={"from": person, "to": "12345", "text": "STOP"}, timeout=10)
    elif gateway == "africastalking":
        answer = requests.post(f"{stack.api_url}/webhooks/africastalking/{WEBHOOK_SECRET}/inbound", timeout=10,
                               data={"from": person, "to": "12345", "text": "STOP", "id": "at-1", "linkId": "l"})
    elif gateway == "tw":
        form = {"AccountSid": "ACe2e", "MessageSid": "SM1", "From": person, "To": "+15005550006", "Body": "Stop"}
        url = f"{stack.api_url}/webhooks/tw/inbound"
        answer = requests.post(url, data=form, timeout=10,
                               headers={"X-Twilio-Signature": sign(TWILIO_TOKEN.encode(), url, form)})
    else:
        answer = requests.post(f"{stack.api_url}/webhooks/ib/{INFOBIP_SECRET}/inbound", timeout=10, json={
            "results": [{"messageId": "ib-1", "from": person.lstrip("+"), "to": "12345", "text": "STOP"}]})
    assert answer.status_code == 200, answer.text


def api(stack: Stack, service, method: str, path: str, **kwargs) -> requests.Response:
    """A request to the stack's own API (its accounts, not the test app's, decide the provider)."""
    headers = {**service.headers, **kwargs.pop("headers", {})}
    return requests.request(method, f"{stack.api_url}{path}", headers=headers, timeout=30, **kwargs)


def sent_to(stack: Stack, person: str) -> list[tuple[float, str]]:
    """When the sandbox took a message to the person, and what it decided (for a failure's message)."""
    events = stack.sandbox("GET", "/_sandbox/events", params={"since": 0})["events"]
    return [(event["t"], event["outcome"]) for event in events if event["to"] == person]


def listed(client, service) -> list[str]:
    """The service's suppressed addresses."""
    return [row["address"] for row in client.get("/v1/opt-outs", headers=service.headers).json["opt_outs"]]


@pytest.mark.parametrize("gateway", ["africastalking", "tw", "ib", "smpp"])
def test_a_stop_by_any_gateway_stops_every_path_but_a_service_critical_one(gateway, stack, client, service, app):
    assert service.service_id == 1
    stack.sandbox("POST", "/_sandbox/reset")
    stack.sandbox("POST", "/_sandbox/config", json={"honour_idempotency": False, "latency_ms": 0,
                                                     "temp_failure_rate": 0.0, "rate_limit_per_s": 0})
    audience = recipients(COUNT)
    person = audience[-1]["to"]
    created = api(stack, service, "POST", "/v1/broadcasts", json={
        "channel": "sms", "body": "Planting advisory: rains from Monday", "recipients": audience,
        "rate_limit_per_second": 10})
    assert created.status_code == 202, created.text
    wait_until(lambda: stack.ledger()["accepted"] >= 5, 60, 0.05, "the first sends")
    stopped_at = time.time()
    stop_by(gateway, stack, person)
    wait_until(lambda: person in listed(client, service), 20, 0.1, "the STOP on the list")

    done = wait_completed(client, service, created.json()["id"], timeout=120)
    ledger = stack.ledger()
    assert person not in ledger["by_recipient"], (stopped_at, sent_to(stack, person), done["counts"])
    assert len(ledger["by_recipient"]) == COUNT - 1 and not ledger["duplicate_recipients"]
    assert done["counts"]["opted_out"] == 1

    # A plain transactional message: refused at intake.
    refused = api(stack, service, "POST", "/v1/messages", json={"to": person, "body": "Your balance"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "recipient_opted_out"

    # A segment broadcast to contacts that include the person.
    imported = client.post("/v1/contacts/import", headers={**service.headers, "Content-Type": "text/csv"},
                           data=f"external_id,phone,consent_sms\np,{person},yes\nn,+260971999001,yes\n")
    assert imported.status_code < 300, imported.json
    segment = api(stack, service, "POST", "/v1/broadcasts", json={
        "channel": "sms", "body": "Seed fair on Friday", "filter": {"field": "external_id", "in": ["p", "n"]}})
    assert segment.status_code == 202, segment.text
    wait_completed(client, service, segment.json()["id"], timeout=120)
    ledger = stack.ledger()
    assert person not in ledger["by_recipient"] and ledger["by_recipient"].get("+260971999001") == 1

    # A service-critical one-time code: goes out once, audited at intake and at send.
    client.post("/v1/templates", headers=service.headers,
                json={"name": "otp", "body": "Your code is ((code))", "service_critical": True})
    code = api(stack, service, "POST", "/v1/messages",
               json={"to": person, "template": "otp", "personalisation": {"code": "4821"}})
    assert code.status_code == 202, code.text
    wait_until(lambda: stack.ledger()["by_recipient"].get(person) == 1, 60, 0.2, "the code at the gateway")
    with app.app_context():
        stages = db.session.execute(text(
            "SELECT details ->> 'stage' FROM audit_log WHERE action = 'suppression_override' "
            "AND details ->> 'message_id' = :mid ORDER BY id"), {"mid": str(code.json()["id"])}).scalars().all()
        db.session.rollback()
    assert stages == ["intake", "send"]
