"""Messages people send to a service's numbers: STOP and START from every gateway, one way.

A webhook (Africa's Talking, Twilio, Infobip) and an SMPP bind (mobile-originated deliver_sm)
hand their parsed InboundMessages here. Each is mapped to a service by the number it was sent
to (HERALD_INBOUND_SERVICES), its first word read against the keyword tables, and applied to the
suppression list in the person's own order: each keyword is recorded with the gateway's id (a
replay is dropped) and timestamp, and one older than the newest keyword or change already in
force changes nothing ('stale'), so a late START never undoes a newer STOP. A keyword that took
effect, or found the person already in that state, is confirmed on the fast lane; a replayed or
stale one is not. A message to an unmapped number, or without a keyword, changes nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import text

from app.errors import ValidationFailed
from app.extensions import db

from app.queueing import enqueue
from app.services.audience import optouts
from app.services.intake import transactional
from providers.base import InboundMessage

log = logging.getLogger(__name__)
# Outcomes after which the person is told where they stand.
_CONFIRMED = ("applied", "unchanged")
# A keyword's outcome until it is settled, in the transaction that records it.
_UNSETTLED = "pending"
# A keyword dated in the future (a gateway's clock ahead) counts as now, or it would outrank every later one.
_RECORD_KEYWORD = text(f"""
INSERT INTO inbound_messages (service_id, channel, account, inbound_id, address, action, outcome, sent_at)
VALUES (:sid, :channel, :account, :inbound_id, :address, :action, '{_UNSETTLED}',
        LEAST(COALESCE(:sent_at, now()), now()))
ON CONFLICT (account, inbound_id) WHERE inbound_id IS NOT NULL DO NOTHING
RETURNING id, sent_at
""")
# The newest keyword or change for this person (by number, or by the pseudonym an erasure left).
_NEWEST_OTHER = text("""
SELECT GREATEST(
  (SELECT max(sent_at) FROM inbound_messages
    WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:keys AS text[])) AND id <> :me),
  (SELECT max(occurred_at) FROM opt_out_events
    WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:keys AS text[]))))
""")
_SETTLE_KEYWORD = text("UPDATE inbound_messages SET outcome = :outcome WHERE id = :me")


@dataclass(frozen=True)
class Keywords:
    """Words that opt a sender out or back in, upper-cased, matched against an SMS's first word."""

    stop: frozenset[str]
    start: frozenset[str]

    @classmethod
    def from_config(cls, cfg) -> "Keywords":
        """The configured lists (comma-separated)."""
        return cls(_words(cfg["HERALD_OPTOUT_KEYWORDS"]), _words(cfg["HERALD_OPTIN_KEYWORDS"]))

    def action_for(self, message: str) -> str | None:
        """'opt_out', 'opt_in' or None for an inbound text: its first word decides, case and punctuation aside."""
        words = message.strip().split()
        first = words[0].strip(".,!?;:'\"").upper() if words else ""
        if first in self.stop:
            return "opt_out"
        if first in self.start:
            return "opt_in"
        return None


def _words(raw: str) -> frozenset[str]:
    """Split a comma-separated keyword list."""
    return frozenset(w.strip().upper() for w in raw.split(",") if w.strip())


def inbound_service(routes: str, destination: str) -> int | None:
    """The service an inbound message to `destination` belongs to, from "code=id,...,*=id"; None if none."""
    table = dict(pair.split("=", 1) for pair in (p.strip() for p in routes.split(",")) if "=" in pair)
    chosen = table.get(destination.strip()) or table.get("*")
    return int(chosen) if chosen and chosen.strip().isdigit() else None


def apply_keyword(service_id: int, channel: str, address: str, action: str, *, account: str,
                  inbound_id: str | None, sent_at, detail: str | None) -> str:
    """Apply one inbound STOP/START in the person's order and commit; what it did.

    'duplicate' (this gateway id was seen), 'stale' (a newer keyword or change is in force),
    'unchanged' (already in that state) or 'applied'.
    """
    params = {"sid": service_id, "channel": channel, "address": address}
    optouts.lock_address(service_id, channel, address)
    recorded = db.session.execute(_RECORD_KEYWORD, {**params, "account": account, "inbound_id": inbound_id,
                                                    "action": action, "sent_at": sent_at}).first()
    if recorded is None:
        db.session.commit()
        return "duplicate"
    newest = db.session.execute(_NEWEST_OTHER, {**params, "me": recorded.id,
                                                "keys": optouts.lookup_keys(channel, [address])}).scalar()
    changed = False
    if newest is not None and newest > recorded.sent_at:
        outcome = "stale"
    else:
        changed = optouts.change(service_id, channel, address, stopped=action == "opt_out",
                                 source=f"{account}:{inbound_id or ''}", actor=f"inbound:{account}", detail=detail,
                                 occurred_at=recorded.sent_at)
        outcome = "applied" if changed else "unchanged"
    db.session.execute(_SETTLE_KEYWORD, {"outcome": outcome, "me": recorded.id})
    db.session.commit()
    if changed:
        optouts.note_recent(service_id, channel, address, stopped=action == "opt_out")
    return outcome


def receive(account: str, channel: str, messages: list[InboundMessage]) -> list[dict]:
    """Act on each inbound message of one callback to an account of `channel`; per message {"action", "outcome"}."""
    return [_receive_one(account, channel, message) for message in messages]


def _receive_one(account: str, channel: str, message: InboundMessage) -> dict:
    """Map, read and apply one message, then confirm it when it took effect."""
    cfg = current_app.config
    service_id = inbound_service(cfg["HERALD_INBOUND_SERVICES"], message.to)
    if service_id is None:
        return {"action": None, "outcome": "unmapped"}
    action = Keywords.from_config(cfg).action_for(message.text)
    address = optouts.normalise(message.sender, channel, cfg["HERALD_DEFAULT_REGION"]) if action else None
    if address is None:
        return {"action": None, "outcome": "no_keyword" if action is None else "unreadable_sender"}
    outcome = apply_keyword(service_id, channel, address, action, account=account,
                            inbound_id=message.inbound_id, sent_at=message.sent_at, detail=message.text[:160])
    if outcome in _CONFIRMED:
        _confirm(service_id, channel, address, action, account, message.inbound_id)
    return {"action": action, "outcome": outcome}


def _confirm(service_id: int, channel: str, address: str, action: str, account: str, inbound_id: str | None) -> None:
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
            service_id, {"channel": channel, "to": address, "body": body},
            region=cfg["HERALD_DEFAULT_REGION"], max_chars=cfg["HERALD_MAX_BODY_CHARS"],
            idempotency_key=f"{action}:{account}:{inbound_id}" if inbound_id else None,
            exempt="optout_confirmation" if action == "opt_out" else None, actor=f"inbound:{account}")
    except ValidationFailed as exc:
        # The keyword already took effect; a number that cannot be texted back just gets no reply.
        log.warning("no %s confirmation from %s: %s", action, account, exc)
        return
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)


def bind_sink(app: Flask, account: str, channel: str):
    """The SMPP adapter's on_inbound callback: mobile-originated texts of one read, applied in the app's context.

    It runs on the bind's reader thread and raises on failure, so the SMSC delivers them again.
    """

    def receive_on_bind(messages: list[InboundMessage]) -> None:
        """Apply every message of one read; errors propagate (the deliver_sm stay unacknowledged)."""
        with app.app_context():
            receive(account, channel, [_storable(m) for m in messages])

    return receive_on_bind


def _storable(message: InboundMessage) -> InboundMessage:
    """The message without NUL characters (SMPP C-strings may carry them; PostgreSQL text refuses them)."""
    return InboundMessage(sender=message.sender.replace("\x00", ""), to=message.to.replace("\x00", ""),
                          text=message.text.replace("\x00", ""), inbound_id=message.inbound_id,
                          sent_at=message.sent_at)
