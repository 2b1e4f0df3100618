"""SendGrid Event Webhook callbacks: the ECDSA check (against SendGrid's own published sample too) and
what each event becomes: a report, an opt-out, or nothing."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers import sendgrid_events as sg
from providers.base import ProviderConfigError, WebhookRequest

# The signed sample SendGrid publishes with its libraries' verifier tests: a key, a signature, and
# the timestamp and body they cover (compact JSON with sorted keys, then CRLF).
SENDGRID_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNR"
                "aINXvVpiglSI8eNEc6wEA3F+g==")
SENDGRID_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SENDGRID_TIMESTAMP = "1600112502"
SENDGRID_EVENT = {"email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
                  "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                  "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                  "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492}


def request(body: bytes, signature: str, timestamp: str) -> WebhookRequest:
    """A callback as Herald's webhook view hands it to the adapter."""
    headers = {sg.SIGNATURE_HEADER: signature, sg.TIMESTAMP_HEADER: timestamp, "content-type": "application/json"}
    return WebhookRequest(method="POST", url="https://herald.example/webhooks/mail", headers=headers, form={},
                          body=body)


def sendgrid_sample(body: bytes | None = None, signature: str = SENDGRID_SIGNATURE,
                    timestamp: str = SENDGRID_TIMESTAMP) -> WebhookRequest:
    """SendGrid's sample, or a variant of it."""
    if body is None:
        body = json.dumps([SENDGRID_EVENT], sort_keys=True, separators=(",", ":")).encode() + b"\r\n"
    return request(body, signature, timestamp)


def signed(events: list[dict], key: ec.EllipticCurvePrivateKey, timestamp: str = "1700000000") -> WebhookRequest:
    """Events signed the way SendGrid signs them, with `key`."""
    body = json.dumps(events).encode()
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return request(body, base64.b64encode(signature).decode(), timestamp)


def test_sendgrids_own_signed_sample_verifies():
    assert sg.verify(sg.load_public_key(SENDGRID_KEY), sendgrid_sample())


@pytest.mark.parametrize("change", ["body", "signature", "timestamp"])
def test_anything_changed_in_the_sample_is_refused(change):
    changed = {"body": sendgrid_sample(body=b"[]"),
               "signature": sendgrid_sample(signature=SENDGRID_SIGNATURE.replace("MEUCIG", "MEUCIH")),
               "timestamp": sendgrid_sample(timestamp="1600112503")}[change]

    assert not sg.verify(sg.load_public_key(SENDGRID_KEY), changed)


def test_another_key_an_old_timestamp_and_missing_headers_are_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    public = sg.load_public_key(base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode())
    good = signed([{"event": "delivered"}], key)

    assert sg.verify(public, good) and sg.verify(public, good, max_age_s=60, now=1700000030)
    assert not sg.verify(public, good, max_age_s=60, now=1700000600)
    assert not sg.verify(public, signed([{"event": "delivered"}], ec.generate_private_key(ec.SECP256R1())))
    assert not sg.verify(public, request(good.body, "", "1700000000"))
    assert not sg.verify(public, request(good.body, "not base64!", "1700000000"))


def test_a_key_that_is_not_an_ec_public_key_is_a_config_error():
    with pytest.raises(ProviderConfigError):
        sg.load_public_key("bm90IGEga2V5")


def test_each_event_becomes_a_report_an_opt_out_or_nothing():
    events = sg.parse_events(json.dumps([
        {"event": "delivered", "email": "a@example.org", "smtp-id": "<m1@herald.test>", "response": "250 OK"},
        {"event": "bounce", "type": "bounce", "email": "b@example.org", "smtp-id": "<m2@herald.test>",
         "status": "5.1.1", "reason": "550 5.1.1 no such user", "bounce_classification": "Invalid Address"},
        {"event": "bounce", "type": "bounce", "email": "c@example.org", "smtp-id": "<m3@herald.test>",
         "status": "5.2.2", "reason": "552 mailbox full", "bounce_classification": "Mailbox Unavailable"},
        {"event": "bounce", "type": "blocked", "email": "d@example.org", "smtp-id": "<m4@herald.test>",
         "status": "5.7.1", "reason": "554 spam", "bounce_classification": "Content"},
        {"event": "dropped", "email": "e@example.org", "smtp-id": "<m5@herald.test>", "reason": "Bounced Address"},
        {"event": "deferred", "email": "f@example.org", "smtp-id": "<m6@herald.test>", "attempt": "2"},
        {"event": "spamreport", "email": "g@example.org", "sg_event_id": "ev7", "timestamp": 1700000000,
         "herald_message_id": "m7@herald.test"},
        {"event": "open", "email": "h@example.org"},
        {"event": "some_future_event", "email": "i@example.org"},
    ]).encode())

    reports = sg.reports(events)
    assert [(r.provider_message_id, r.status, r.provider_status) for r in reports] == [
        ("m1@herald.test", "delivered", "delivered"), ("m2@herald.test", "failed", "bounce:bounce"),
        ("m3@herald.test", "unreachable", "bounce:bounce"), ("m4@herald.test", "failed", "bounce:blocked"),
        ("m5@herald.test", "failed", "dropped"), ("m6@herald.test", None, "deferred")]
    assert reports[1].failure_reason == "5.1.1 550 5.1.1 no such user" and reports[0].failure_reason is None
    assert reports[5].raw["attempt"] == "2"
    [opt_out] = sg.opt_outs(events)
    assert (opt_out.address, opt_out.reason, opt_out.event_id, opt_out.provider_message_id) == (
        "g@example.org", "complaint", "ev7", "m7@herald.test")
    assert opt_out.occurred_at.timestamp() == 1700000000


@pytest.mark.parametrize("body", [b"not json", b'{"event": "delivered"}', b'[{"email": "a@example.org"}]', b"[1]"])
def test_a_body_that_is_not_an_array_of_events_is_a_value_error(body):
    with pytest.raises(ValueError):
        sg.parse_events(body)
