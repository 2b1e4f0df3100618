"""Bounces and complaints as SendGrid's Event Webhook posts them: JSON arrays, signed with ECDSA.

The sandbox plays the relay behind an SMTP account: each message it takes gets events, posted to
`smtp_events_url` after `dlr_delay_ms`, shaped as SendGrid's (event, email, timestamp,
sg_event_id, sg_message_id, smtp-id on delivery events, the message's X-SMTPAPI unique_args) and
signed as SendGrid signs them: base64 DER ECDSA (P-256, SHA-256) over the timestamp header's
value followed by the body. The key pair is made when the sandbox starts; its public half is at
GET /v3/user/webhooks/event/settings/signed, where SendGrid shows an account's.

What a message gets depends on its recipient's local part:

  local part starts with | events
  -----------------------+-----------------------------------------------------------
  bounce                 | bounce (5.1.1, "Invalid Address")
  full                   | bounce (5.2.2 mailbox full, "Mailbox Unavailable")
  blocked                | bounce of type blocked (5.7.1, "Content")
  complaint              | delivered, then spamreport
  unsubscribe            | delivered, then unsubscribe
  silent                 | none
  anything else          | delivered
"""
from __future__ import annotations

import base64
import json
import secrets
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_BOUNCES = {
    "bounce": {"type": "bounce", "status": "5.1.1", "bounce_classification": "Invalid Address",
               "reason": "550 5.1.1 The email account that you tried to reach does not exist"},
    "full": {"type": "bounce", "status": "5.2.2", "bounce_classification": "Mailbox Unavailable",
             "reason": "552 5.2.2 The email account that you tried to reach is over quota"},
    "blocked": {"type": "blocked", "status": "5.7.1", "bounce_classification": "Content",
                "reason": "554 5.7.1 Message rejected as spam"},
}
_AFTER_DELIVERY = {"complaint": "spamreport", "unsubscribe": "unsubscribe"}


class EventSigner:
    """The sandbox's event-signing key pair."""

    def __init__(self) -> None:
        """A fresh P-256 key pair."""
        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        #: the verification key, as SendGrid shows it: base64 DER SubjectPublicKeyInfo
        self.public_key = base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, timestamp: int | None = None) -> dict:
        """The headers of one signed post of `body`."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"Content-Type": "application/json", SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
                TIMESTAMP_HEADER: stamp}


def events_for(address: str, message_id: str, unique_args: dict, when: float) -> list[dict]:
    """The events one taken message gets, by its recipient's local part (see the table above)."""
    local = address.partition("@")[0].lower()
    if local.startswith("silent"):
        return []
    base = {"email": address, "timestamp": int(when), "sg_message_id": f"{secrets.token_urlsafe(16)}.sandbox",
            **unique_args}
    smtp_id = {"smtp-id": message_id} if message_id else {}
    for prefix, fields in _BOUNCES.items():
        if local.startswith(prefix):
            return [_event(base, "bounce", **smtp_id, **fields)]
    events = [_event(base, "delivered", **smtp_id, response="250 OK")]
    for prefix, name in _AFTER_DELIVERY.items():
        if local.startswith(prefix):
            events.append(_event(base, name))
    return events


def body_of(events: list[dict]) -> bytes:
    """A post's body: compact JSON and CRLF, as SendGrid writes it."""
    return json.dumps(events, separators=(",", ":")).encode() + b"\r\n"


def unique_args(header: str | None) -> dict:
    """The unique_args of an X-SMTPAPI header, as top-level event fields (strings only); {} if none."""
    try:
        found = json.loads(header or "{}").get("unique_args", {})
    except (ValueError, AttributeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(key): value for key, value in found.items() if isinstance(value, str)}


def _event(base: dict, name: str, **fields) -> dict:
    """One event with its own id."""
    return {**base, "event": name, "sg_event_id": secrets.token_urlsafe(16), **fields}
