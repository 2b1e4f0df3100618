"""One-off transactional messages: the fast lane beside broadcasts."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Message
from app.services.broadcast_request import parse_body, parse_channel
from app.services.recipients import classify
from app.services.templates import compile_template

PRIORITIES = {"asap"}
_POSITION = text("""
SELECT count(*) FROM messages
 WHERE broadcast_id IS NULL AND status = 'pending' AND next_attempt_at <= now() AND id < :mid
""")


@dataclass
class Accepted:
    """The stored message, whether this request created it, and how many are ahead of it."""

    message: Message
    created: bool
    queue_position: int


def _validate(payload: dict, region: str, max_chars: int) -> tuple[str, str, str | None, dict | None]:
    """(E.164 number, carrier, body, personalisation) from a request, or 422 naming the field."""
    parse_channel(payload.get("channel", "sms"))
    body = parse_body(payload, max_chars)
    priority = payload.get("priority", "asap")
    if priority not in PRIORITIES:
        raise ValidationFailed("priority must be 'asap' for /v1/messages", {"field": "priority"})
    to = payload.get("to")
    if not isinstance(to, str):
        raise ValidationFailed("'to' is required and must be a string", {"field": "to"})
    personalisation = payload.get("personalisation")
    if personalisation is not None and not isinstance(personalisation, dict):
        raise ValidationFailed("personalisation must be an object", {"field": "personalisation"})
    number, verdict = classify(to, region)
    if not verdict.valid:
        raise ValidationFailed(f"'to' is not a valid mobile number ({verdict.reason})", {"field": "to"})
    missing = compile_template(body).missing(personalisation)
    if missing:
        raise ValidationFailed(f"personalisation lacks {missing}", {"field": "personalisation", "missing": missing})
    return number, verdict.carrier, body, personalisation


def queue_position(message_id: int) -> int:
    """Due transactional messages queued ahead of this one."""
    return db.session.execute(_POSITION, {"mid": message_id}).scalar()


def create_message(service_id: int, payload: dict, *, provider: str, region: str, max_chars: int,
                   idempotency_key: str | None) -> Accepted:
    """Store one message for the fast lane; replay the first one for a repeated Idempotency-Key."""
    number, carrier, body, personalisation = _validate(payload, region, max_chars)
    if idempotency_key:
        existing = db.session.scalar(select(Message).where(Message.service_id == service_id,
                                                           Message.idempotency_key == idempotency_key))
        if existing is not None:
            return Accepted(existing, False, queue_position(existing.id))
    message = Message(service_id=service_id, recipient=number, carrier=carrier, status="pending", body=body,
                      provider=provider, idempotency_key=idempotency_key,
                      personalisation=json.loads(json.dumps(personalisation)) if personalisation else None)
    try:
        db.session.add(message)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(Message).where(Message.service_id == service_id,
                                                           Message.idempotency_key == idempotency_key))
        return Accepted(existing, False, queue_position(existing.id))
    return Accepted(message, True, queue_position(message.id))


def get_owned(service_id: int, message_id: int) -> Message:
    """A transactional or broadcast message of this service, or 404."""
    message = db.session.get(Message, message_id)
    if message is None or message.service_id != service_id:
        raise NotFound("no such message", {"id": message_id})
    return message


def describe(message: Message) -> dict:
    """One message as JSON."""
    stamp = lambda value: value.isoformat() if value else None  # noqa: E731
    return {"id": message.id, "to": message.recipient, "carrier": message.carrier, "status": message.status,
            "broadcast_id": str(message.broadcast_id) if message.broadcast_id else None,
            "attempts": message.attempts, "provider_message_id": message.provider_message_id,
            "segments": message.segments, "cost": str(message.cost) if message.cost is not None else None,
            "currency": message.currency, "error_code": message.error_code, "error_detail": message.error_detail,
            "created_at": stamp(message.created_at), "sent_at": stamp(message.sent_at),
            "finished_at": stamp(message.finished_at)}
