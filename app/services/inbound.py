"""Messages people send to a service's numbers: STOP and START from every gateway, one way.

A webhook (Africa's Talking, Twilio, Infobip) and an SMPP bind (mobile-originated deliver_sm)
hand their parsed InboundMessages here. Each is mapped to a service by the number it was sent
to (HERALD_INBOUND_SERVICES), its first word read against the keyword tables, and applied to the
suppression list in the person's order (optouts.apply_keyword). A keyword that took effect, or
found the person already in that state, is confirmed on the fast lane; a replayed or stale one is
not. A message to an unmapped number, or without a keyword, changes nothing.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app

from app.errors import ValidationFailed

from app.queueing import enqueue
from app.services import optouts, routing, transactional
from providers.base import InboundMessage

log = logging.getLogger(__name__)
CHANNEL = "sms"
# Outcomes after which the person is told where they stand.
_CONFIRMED = ("applied", "unchanged")


def receive(account: str, messages: list[InboundMessage]) -> list[dict]:
    """Act on each inbound message of one callback; per message {"action", "outcome"}."""
    return [_receive_one(account, message) for message in messages]


def _receive_one(account: str, message: InboundMessage) -> dict:
    """Map, read and apply one message, then confirm it when it took effect."""
    cfg = current_app.config
    service_id = optouts.inbound_service(cfg["HERALD_INBOUND_SERVICES"], message.to)
    if service_id is None:
        return {"action": None, "outcome": "unmapped"}
    action = optouts.Keywords.from_config(cfg).action_for(message.text)
    address = optouts.normalise(message.sender, CHANNEL, cfg["HERALD_DEFAULT_REGION"]) if action else None
    if address is None:
        return {"action": None, "outcome": "no_keyword" if action is None else "unreadable_sender"}
    outcome = optouts.apply_keyword(service_id, CHANNEL, address, action, account=account,
                                    inbound_id=message.inbound_id, sent_at=message.sent_at,
                                    detail=message.text[:160])
    if outcome in _CONFIRMED:
        _confirm(service_id, address, action, account, message.inbound_id)
    return {"action": action, "outcome": outcome}


def _confirm(service_id: int, address: str, action: str, account: str, inbound_id: str | None) -> None:
    """Send the configured confirmation on the fast lane (off when its text is empty).

    An opt-out's confirmation is the one message an opted-out person may still get (exempt and
    audited); the inbound message's id is its Idempotency-Key, so a callback posted twice confirms once.
    """
    cfg = current_app.config
    body = cfg["HERALD_OPTOUT_REPLY" if action == "opt_out" else "HERALD_OPTIN_REPLY"]
    if not body:
        return
    try:
        accepted = transactional.create_message(
            service_id, {"to": address, "body": body}, provider=routing.provider_for(CHANNEL),
            region=cfg["HERALD_DEFAULT_REGION"], max_chars=cfg["HERALD_MAX_BODY_CHARS"],
            idempotency_key=f"{action}:{account}:{inbound_id}" if inbound_id else None,
            exempt="optout_confirmation" if action == "opt_out" else None, actor=f"inbound:{account}")
    except ValidationFailed as exc:
        # The keyword already took effect; a number that cannot be texted back just gets no reply.
        log.warning("no %s confirmation from %s: %s", action, account, exc)
        return
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)


def bind_sink(app: Flask, account: str):
    """The SMPP adapter's on_inbound callback: mobile-originated texts of one read, applied in the app's context.

    It runs on the bind's reader thread and raises on failure, so the SMSC delivers them again.
    """

    def receive_on_bind(messages: list[InboundMessage]) -> None:
        """Apply every message of one read; errors propagate (the deliver_sm stay unacknowledged)."""
        with app.app_context():
            receive(account, [_storable(m) for m in messages])

    return receive_on_bind


def _storable(message: InboundMessage) -> InboundMessage:
    """The message without NUL characters (SMPP C-strings may carry them; PostgreSQL text refuses them)."""
    return InboundMessage(sender=message.sender.replace("\x00", ""), to=message.to.replace("\x00", ""),
                          text=message.text.replace("\x00", ""), inbound_id=message.inbound_id,
                          sent_at=message.sent_at)
