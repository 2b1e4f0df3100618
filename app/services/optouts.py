"""The suppression list: STOP and START keywords, audited adds and removes, set-based checks.

Adds and removes write the list and one audit row in the same transaction, under a lock on the
address, so an inbound keyword and an operator's change never interleave. Inbound keywords are
applied in the person's own order: each is recorded with the gateway's id (a replay is
dropped) and timestamp, and one older than the newest keyword or change already in force
changes nothing ('stale'), so a late START never undoes a newer STOP.

Every path consults this one list: intake loads a service's list once per broadcast, a segment
page and a transactional POST look their recipients up, a send task looks up the rows it just
claimed in one query, and each gateway call checks the addresses that opted out since (a Redis
set per service and channel, kept as long as a claim can live), so a STOP mid-batch stops the
remaining sends. Only a message marked exempt (a service-critical template, the confirmation of
an opt-out) passes, and each one that reaches a suppressed number is audited.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.redis_store import get_redis
from app.services import message_state
from app.services.recipients import classify

log = logging.getLogger(__name__)

_ADD = text("""
INSERT INTO opt_outs (service_id, channel, address, source) VALUES (:sid, :channel, :address, :source)
ON CONFLICT DO NOTHING
""")
_REMOVE = text("DELETE FROM opt_outs WHERE service_id = :sid AND channel = :channel AND address = :address")
_EVENT = text("""
INSERT INTO opt_out_events (service_id, channel, address, action, source, actor, detail, occurred_at)
VALUES (:sid, :channel, :address, :action, :source, :actor, :detail, COALESCE(:occurred_at, now()))
""")
# One change at a time per address: an inbound keyword's order check and the change it makes are atomic.
_LOCK_ADDRESS = text("SELECT pg_advisory_xact_lock(hashtextextended(:sid || ':' || :channel || ':' || :address, 7))")
# A keyword dated in the future (a gateway's clock ahead) counts as now, or it would outrank every later one.
_RECORD_KEYWORD = text("""
INSERT INTO inbound_messages (service_id, channel, account, inbound_id, address, action, outcome, sent_at)
VALUES (:sid, :channel, :account, :inbound_id, :address, :action, 'pending', LEAST(COALESCE(:sent_at, now()), now()))
ON CONFLICT (account, inbound_id) WHERE inbound_id IS NOT NULL DO NOTHING
RETURNING id, sent_at
""")
_NEWEST_OTHER = text("""
SELECT GREATEST(
  (SELECT max(sent_at) FROM inbound_messages
    WHERE service_id = :sid AND channel = :channel AND address = :address AND id <> :me),
  (SELECT max(occurred_at) FROM opt_out_events WHERE service_id = :sid AND channel = :channel AND address = :address))
""")
_SETTLE_KEYWORD = text("UPDATE inbound_messages SET outcome = :outcome WHERE id = :me")
_OVERRIDE = text("""
INSERT INTO audit_log (service_id, actor, action, reason, details)
VALUES (:sid, :actor, 'suppression_override', :reason, CAST(:details AS jsonb))
""")
# Why a message may reach a suppressed address: a service-critical template, or the opt-out's own confirmation.
EXEMPTIONS = ("service_critical", "optout_confirmation")
# Channels whose rules let a service-critical message reach someone who opted out (one-time codes, account alerts).
CRITICAL_CHANNELS = frozenset({"sms"})
_ALL = text("SELECT address FROM opt_outs WHERE service_id = :sid AND channel = :channel")
_AMONG = text("""
SELECT address FROM opt_outs
 WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:addresses AS text[]))
""")


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


def normalise(address: str, channel: str, region: str) -> str | None:
    """An address as messages store it (E.164 for SMS), or None when it cannot be one."""
    if channel != "sms":
        return address.strip().lower() or None
    return classify(address, region)[0]


def apply_keyword(service_id: int, channel: str, address: str, action: str, *, account: str,
                  inbound_id: str | None, sent_at, detail: str | None) -> str:
    """Apply one inbound STOP/START in the person's order and commit; what it did.

    'duplicate' (this gateway id was seen), 'stale' (a newer keyword or change is in force),
    'unchanged' (already in that state) or 'applied'.
    """
    params = {"sid": service_id, "channel": channel, "address": address}
    db.session.execute(_LOCK_ADDRESS, params)
    recorded = db.session.execute(_RECORD_KEYWORD, {**params, "account": account, "inbound_id": inbound_id,
                                                    "action": action, "sent_at": sent_at}).first()
    if recorded is None:
        db.session.commit()
        return "duplicate"
    newest = db.session.execute(_NEWEST_OTHER, {**params, "me": recorded.id}).scalar()
    changed = False
    if newest is not None and newest > recorded.sent_at:
        outcome = "stale"
    else:
        changed = _change(service_id, channel, address, stopped=action == "opt_out",
                          source=f"{account}:{inbound_id or ''}", actor=f"inbound:{account}", detail=detail,
                          occurred_at=recorded.sent_at)
        outcome = "applied" if changed else "unchanged"
    db.session.execute(_SETTLE_KEYWORD, {"outcome": outcome, "me": recorded.id})
    db.session.commit()
    if changed:
        _note_recent(service_id, channel, address, stopped=action == "opt_out")
    return outcome


def _change(service_id: int, channel: str, address: str, *, stopped: bool, source: str, actor: str,
            detail: str | None, occurred_at=None) -> bool:
    """Add (stopped) or remove an address and audit it, under the address lock; no commit. True if it changed."""
    params = {"sid": service_id, "channel": channel, "address": address}
    db.session.execute(_LOCK_ADDRESS, params)
    if stopped:
        changed = db.session.execute(_ADD, {**params, "source": source}).rowcount
    else:
        changed = db.session.execute(_REMOVE, params).rowcount
    if changed:  # the audit records changes; a repeated STOP changes nothing
        db.session.execute(_EVENT, {**params, "action": "opt_out" if stopped else "opt_in", "source": source,
                                    "actor": actor, "detail": detail, "occurred_at": occurred_at})
    return bool(changed)


def opt_out(service_id: int, channel: str, address: str, *, source: str, actor: str,
            detail: str | None = None) -> bool:
    """Suppress an address and audit it, committing; True when it was not suppressed before."""
    added = _change(service_id, channel, address, stopped=True, source=source, actor=actor, detail=detail)
    db.session.commit()
    if added:
        _note_recent(service_id, channel, address, stopped=True)
    return added


def opt_in(service_id: int, channel: str, address: str, *, source: str, actor: str,
           detail: str | None = None) -> bool:
    """Lift a suppression and audit it, committing; True when the address was suppressed."""
    removed = _change(service_id, channel, address, stopped=False, source=source, actor=actor, detail=detail)
    db.session.commit()
    if removed:
        _note_recent(service_id, channel, address, stopped=False)
    return removed


def is_suppressed(service_id: int, channel: str, address: str) -> bool:
    """Whether one address is on the list (one indexed lookup)."""
    return bool(suppressed_among(service_id, channel, [address]))


def audit_override(service_id: int, message_id: int, reason: str, actor: str, stage: str) -> None:
    """Record, in the current transaction, that an exempt message goes to a suppressed address.

    The audit row names the message, never the address (erasure would have to find it there).
    """
    db.session.execute(_OVERRIDE, {"sid": service_id, "actor": actor, "reason": reason,
                                   "details": json.dumps({"message_id": message_id, "stage": stage})})


def recent_key(service_id: int, channel: str) -> str:
    """Redis set of a service's addresses that opted out on a channel lately (checked before each call)."""
    return f"herald:optouts:recent:{service_id}:{channel}"


def _note_recent(service_id: int, channel: str, address: str, stopped: bool) -> None:
    """Tell sends in flight: add (or, on START, remove) the address for as long as a claim can live.

    The list in PostgreSQL is already committed; without Redis, only batches claimed before the
    STOP can still reach the address (every later claim checks the list itself).
    """
    key = recent_key(service_id, channel)
    try:
        pipe = get_redis().pipeline()
        pipe.sadd(key, address) if stopped else pipe.srem(key, address)
        pipe.pexpire(key, int(message_state.journal_ttl(current_app.config["HERALD_LEASE_SECONDS"]) * 1000))
        pipe.execute()
    except redis.RedisError:
        log.exception("an opt-out of service %s on %s not announced to sends in flight", service_id, channel)


def suppressed(service_id: int, channel: str) -> frozenset[str]:
    """Every suppressed address of a service on a channel: one query, for intake."""
    return frozenset(db.session.execute(_ALL, {"sid": service_id, "channel": channel}).scalars())


def suppressed_among(service_id: int, channel: str, addresses: list[str]) -> set[str]:
    """Which of these addresses are suppressed: one query, for a claimed batch."""
    if not addresses:
        return set()
    return set(db.session.execute(_AMONG, {"sid": service_id, "channel": channel,
                                           "addresses": addresses}).scalars())


def history(service_id: int, channel: str | None, address: str | None, limit: int) -> list[dict]:
    """The newest audit rows, optionally for one channel and address."""
    rows = db.session.execute(text("""
        SELECT channel, address, action, source, actor, detail, created_at FROM opt_out_events
         WHERE service_id = :sid AND (CAST(:channel AS text) IS NULL OR channel = :channel)
           AND (CAST(:address AS text) IS NULL OR address = :address)
         ORDER BY id DESC LIMIT :limit"""), {"sid": service_id, "channel": channel, "address": address,
                                              "limit": limit}).mappings()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def listing(service_id: int, channel: str | None, after: str, limit: int) -> list[dict]:
    """A keyset page of the suppression list, ordered by address."""
    rows = db.session.execute(text("""
        SELECT channel, address, source, created_at FROM opt_outs
         WHERE service_id = :sid AND (CAST(:channel AS text) IS NULL OR channel = :channel) AND address > :after
         ORDER BY address LIMIT :limit"""), {"sid": service_id, "channel": channel, "after": after,
                                               "limit": limit}).mappings()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def drop_suppressed(claim, service_id: int, channel: str) -> list:
    """Close the claimed rows whose recipient opted out since intake; return the rows still to send.

    One query per claimed batch; a STOP landing after it is caught by the check before each
    gateway call (recent_key), which withholds the message for the next claim to close.
    """
    stopped = suppressed_among(service_id, channel, [row.recipient for row in claim.rows])
    if not stopped:
        return claim.rows
    message_state.mark_opted_out(claim, [row.id for row in claim.rows if row.recipient in stopped])
    return [row for row in claim.rows if row.recipient not in stopped]


_SUPPRESSING = text("""
SELECT count(*) FROM opt_outs
 WHERE service_id = :sid AND channel = ANY(CAST(:channels AS text[])) AND address = ANY(CAST(:addresses AS text[]))
""")
# Erasure keeps who asked what and when (the evidence behind the suppression), not what they wrote.
_MINIMISE_EVENTS = text("""
WITH person AS (
  SELECT id, detail IS NOT NULL OR actor LIKE 'inbound:%' AS holds_more FROM opt_out_events
   WHERE service_id = :sid AND channel = ANY(CAST(:channels AS text[])) AND address = ANY(CAST(:addresses AS text[]))
), scrubbed AS (
  UPDATE opt_out_events e
     SET detail = NULL, actor = CASE WHEN e.actor LIKE 'inbound:%' THEN 'inbound' ELSE e.actor END
    FROM person p WHERE e.id = p.id AND p.holds_more
  RETURNING e.id
)
SELECT (SELECT count(*) FROM person) AS kept, (SELECT count(*) FROM scrubbed) AS scrubbed
""")


def minimise_for_erasure(service_id: int, channels: list[str], addresses: list[str]) -> dict:
    """Keep an erased person's suppressions and consent history, drop the texts they sent. Caller commits.

    The address stays on the list so that it keeps being suppressed (a new import of the same
    number must not reach someone who said STOP); its events stay as the evidence for it.
    """
    params = {"sid": service_id, "channels": channels, "addresses": addresses}
    kept = db.session.execute(_SUPPRESSING, params).scalar()
    events = db.session.execute(_MINIMISE_EVENTS, params).one()
    return {"suppressions_kept": kept, "opt_out_events_kept": events.kept, "opt_out_events_scrubbed": events.scrubbed}


def inbound_service(routes: str, destination: str) -> int | None:
    """The service an inbound message to `destination` belongs to, from "code=id,...,*=id"; None if none."""
    table = dict(pair.split("=", 1) for pair in (p.strip() for p in routes.split(",")) if "=" in pair)
    chosen = table.get(destination.strip()) or table.get("*")
    return int(chosen) if chosen and chosen.strip().isdigit() else None
