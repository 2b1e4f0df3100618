"""One-off transactional messages: the fast lane beside broadcasts."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Message
from app.services.intake.broadcast_request import names_stored_template, parse_body, parse_channel
from app.services.audience import optouts
from app.services.channels import registry, routes
from app.services.intake import idempotency
from app.services.intake.idempotency import check_replay
from app.services.channels.recipients import Verdict
from app.services.content.storable_text import check_json, check_text
from app.services.content.templates import compile_template
from app.statuses import MessageStatus, sql_literal

PRIORITIES = {"asap"}
# Only the caller's own queue: another service's volume is not this service's business.
_POSITION = text(f"""
SELECT count(*) FROM messages
 WHERE service_id = :sid AND broadcast_id IS NULL AND status = {sql_literal(MessageStatus.PENDING)}
   AND next_attempt_at <= now()
   AND id < :mid
""")


@dataclass
class Accepted:
    """The stored message, whether this request created it, and how many are ahead of it."""

    message: Message
    created: bool
    queue_position: int


def _personalisation(payload: dict, body: str, max_chars: int) -> dict | None:
    """The personalisation, checked to fill the body's placeholders within the length limit."""
    personalisation = payload.get("personalisation")
    if personalisation is not None and not isinstance(personalisation, dict):
        raise ValidationFailed("personalisation must be an object", {"field": "personalisation"})
    check_json("personalisation", personalisation)
    missing, length = compile_template(body).fill(personalisation)
    if missing:
        raise ValidationFailed(f"personalisation lacks {missing}", {"field": "personalisation", "missing": missing},
                               code="missing_personalisation")
    if length > max_chars:
        raise ValidationFailed(f"the personalised message is {length} characters; the limit is {max_chars}",
                               {"field": "personalisation", "length": length, "limit": max_chars},
                               code="message_too_long")
    return personalisation


def _validate(payload: dict, channel: str, region: str, max_chars: int) -> tuple[str, Verdict, str, dict | None]:
    """(address as stored, its verdict, body, personalisation) from a request, or 4xx naming the field."""
    body = parse_body(payload, max_chars)
    priority = payload.get("priority", "asap")
    if not isinstance(priority, str) or priority not in PRIORITIES:
        raise ValidationFailed("priority must be 'asap' for /v1/messages", {"field": "priority"})
    to = payload.get("to")
    if not isinstance(to, str):
        raise ValidationFailed("'to' is required and must be a string", {"field": "to"})
    kind = registry.get(channel)
    address, verdict = kind.classify(check_text("to", to), region)
    if not verdict.valid:
        raise ValidationFailed(f"'to' is not a valid {kind.address_name} ({verdict.reason})", {"field": "to"},
                               code=kind.invalid_code)
    return address, verdict, body, _personalisation(payload, body, max_chars)


def queue_position(service_id: int, message_id: int) -> int:
    """Due transactional messages of the same service queued ahead of this one."""
    return db.session.execute(_POSITION, {"sid": service_id, "mid": message_id}).scalar()


def request_fingerprint(payload: dict) -> str:
    """A hash of the request as JSON with sorted keys: key order and spacing do not make another request."""
    return idempotency.request_fingerprint(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())


def _replay(service_id: int, idempotency_key: str | None, fingerprint: str) -> Accepted | None:
    """The message an Idempotency-Key already made, or None; 422 if the request differs."""
    if not idempotency_key:
        return None
    existing = db.session.scalar(select(Message).where(Message.service_id == service_id,
                                                       Message.idempotency_key == idempotency_key))
    if existing is None:
        return None
    check_replay(idempotency_key, existing.request_hash, fingerprint, {"message_id": existing.id})
    return Accepted(existing, False, queue_position(service_id, existing.id))


def create_message(service_id: int, payload: dict, *, region: str, max_chars: int,
                   idempotency_key: str | None, resolve_template: Callable | None = None,
                   exempt: str | None = None, actor: str = "api") -> Accepted:
    """Store one message for the fast lane; replay the first one for a repeated Idempotency-Key.

    A recipient on the suppression list is refused (422 recipient_opted_out) unless the message is
    exempt: the confirmation of an opt-out, or a template its service marked service_critical on a
    channel that allows it. An exempt message to a suppressed number is audited here and at send.
    `resolve_template(channel, name, version, language)` gives (body, reference) for a saved template.
    """
    fingerprint = request_fingerprint(payload)
    channel = parse_channel(payload.get("channel", registry.DEFAULT))
    if resolve_template is not None and names_stored_template(payload):
        body, reference = resolve_template(channel, payload["template"], payload.get("template_version"),
                                           payload.get("language"))
        payload = {**payload, "template": body}
        if reference.get("service_critical") and registry.get(channel).critical_may_pass:
            exempt = exempt or "service_critical"
    number, verdict, body, personalisation = _validate(payload, channel, region, max_chars)
    replay = _replay(service_id, idempotency_key, fingerprint)
    if replay is not None:
        return replay
    suppressed = optouts.is_suppressed(service_id, channel, number)
    if suppressed and exempt is None:
        db.session.rollback()
        raise ValidationFailed("the recipient opted out of this service's messages on this channel",
                               {"field": "to", "channel": channel}, code="recipient_opted_out")
    message = Message(service_id=service_id, channel=channel, recipient=number, carrier=verdict.carrier,
                      region=verdict.region, status=MessageStatus.PENDING, body=body,
                      provider=routes.provider_for(channel), idempotency_key=idempotency_key,
                      request_hash=fingerprint if idempotency_key else None, suppression_exempt=exempt,
                      personalisation=json.loads(json.dumps(personalisation)) if personalisation else None)
    try:
        db.session.add(message)
        db.session.flush()
        if suppressed:
            optouts.audit_override(service_id, message.id, exempt, actor, "intake")
        db.session.commit()
    except IntegrityError:
        # Two requests raced on one Idempotency-Key: the first one's message is the answer.
        db.session.rollback()
        replay = _replay(service_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay
    return Accepted(message, True, queue_position(service_id, message.id))


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
