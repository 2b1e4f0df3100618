"""SendGrid's Event Webhook as the report source of an SMTP account: signed JSON arrays of events.

Wire format (SendGrid's "Event Webhook Reference" and "Event Webhook Security Features"):
  POST, Content-Type application/json, the body a JSON array of event objects. Each has "event",
  "email", "timestamp" (Unix seconds), "sg_event_id", "sg_message_id"; delivery events add
  "smtp-id" (the message's Message-ID, in angle brackets), bounces "type" (bounce | blocked),
  "status" (enhanced code), "reason" and "bounce_classification"; every event carries the
  message's unique_args (X-SMTPAPI) as top-level fields.
  X-Twilio-Email-Event-Webhook-Signature: base64 of a DER ECDSA signature (P-256, SHA-256) over
  the X-Twilio-Email-Event-Webhook-Timestamp header's value followed by the raw body. The
  account's verification key is base64 DER (SubjectPublicKeyInfo), as SendGrid shows it.

Bounces, blocks and drops are failed reports (unreachable when the mailbox itself is the cause),
deliveries delivered; complaints and unsubscribes are opt-outs, not reports; engagement events
(open, click) are neither.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers.base import DeliveryReport, ProviderConfigError, WebhookRequest

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# The unique_arg Herald sets (X-SMTPAPI), naming the Message-ID in events that carry no smtp-id.
MESSAGE_ID_ARG = "herald_message_id"
# Delivery event -> Herald status; None: not final yet.
DELIVERY_EVENTS: dict[str, str | None] = {
    "processed": None, "deferred": None, "delivered": "delivered", "bounce": "failed", "dropped": "failed",
}
# Events in which the person asks for no more mail -> the opt-out's reason.
OPT_OUT_EVENTS = {"spamreport": "complaint", "unsubscribe": "unsubscribe", "group_unsubscribe": "unsubscribe"}
# A bounce caused by the mailbox (full, disabled, gone quiet), not by the address or the content:
# SendGrid's classification, or an enhanced status 5.2.x / 4.2.x (mailbox status, RFC 3463).
UNREACHABLE_CLASSIFICATIONS = frozenset({"Mailbox Unavailable"})
MAILBOX_STATUS_PREFIXES = ("5.2.", "4.2.")


@dataclass(frozen=True, slots=True)
class EmailOptOut:
    """A person who asked for no more mail: a complaint (marked as spam) or an unsubscribe."""

    address: str
    reason: str
    event_id: str | None = None
    occurred_at: datetime | None = None
    provider_message_id: str | None = None


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key (base64 DER, or PEM); ProviderConfigError if it is not an EC key."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ProviderConfigError(f"smtp: event_public_key is not a public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProviderConfigError("smtp: event_public_key must be an elliptic-curve (ECDSA) key")
    return key


def verify(key: ec.EllipticCurvePublicKey, request: WebhookRequest, max_age_s: float = 0.0,
           now: float | None = None) -> bool:
    """The signature is the key's over timestamp + raw body, and (when max_age_s) the timestamp is recent."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not stamp.isdigit():
        return False
    if max_age_s and abs((time.time() if now is None else now) - int(stamp)) > max_age_s:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), stamp.encode() + request.body,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def parse_events(body: bytes) -> list[dict]:
    """The callback's events; ValueError unless it is a JSON array of objects each naming its event."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("SendGrid event body is not JSON") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) and isinstance(e.get("event"), str)
                                               for e in events):
        raise ValueError("SendGrid event body must be a JSON array of objects with an 'event'")
    return events


def reports(events: list[dict]) -> list[DeliveryReport]:
    """The delivery reports among the events, in order; other events are left out."""
    return [_report(event) for event in events if event["event"] in DELIVERY_EVENTS]


def opt_outs(events: list[dict]) -> list[EmailOptOut]:
    """The complaints and unsubscribes among the events, in order (events without an address left out)."""
    return [EmailOptOut(address=str(event["email"]).strip(), reason=OPT_OUT_EVENTS[event["event"]],
                        event_id=_text(event.get("sg_event_id")) or None, occurred_at=_time(event.get("timestamp")),
                        provider_message_id=_message_id(event))
            for event in events if event["event"] in OPT_OUT_EVENTS and _text(event.get("email"))]


def _report(event: dict) -> DeliveryReport:
    """One delivery event as a DeliveryReport."""
    name = event["event"]
    status = DELIVERY_EVENTS[name]
    if name == "bounce" and _mailbox_caused(event):
        status = "unreachable"
    reason = " ".join(part for part in (_text(event.get("status")), _text(event.get("reason"))) if part)
    kind = _text(event.get("type"))
    return DeliveryReport(
        provider_message_id=_message_id(event) or _text(event.get("sg_message_id")),
        status=status, provider_status=f"{name}:{kind}" if kind else name,
        failure_reason=(reason or name) if status in ("failed", "unreachable") else None,
        raw={key: _text(value) for key, value in event.items()})


def _mailbox_caused(event: dict) -> bool:
    """Whether a bounce names the mailbox (full, disabled) rather than the address or the message."""
    if _text(event.get("type")) == "blocked":
        return False
    return (_text(event.get("bounce_classification")) in UNREACHABLE_CLASSIFICATIONS
            or _text(event.get("status")).startswith(MAILBOX_STATUS_PREFIXES))


def _message_id(event: dict) -> str | None:
    """The Message-ID an event names (smtp-id, else Herald's unique_arg), without angle brackets."""
    found = _text(event.get("smtp-id")) or _text(event.get(MESSAGE_ID_ARG))
    return found.strip().strip("<>").strip() or None


def _time(value) -> datetime | None:
    """A Unix timestamp as an aware UTC datetime; None if absent or unreadable."""
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text(value) -> str:
    """A field as text: strings as they are, anything else as JSON (None as empty)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
