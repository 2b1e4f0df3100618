"""The suppression list: audited adds and removes, set-based checks, pseudonyms after erasure.

Adds and removes write the list and one audit row in the same transaction, under a lock on the
address, so an inbound keyword (inbound.py, which applies them in the person's order) and an
operator's change never interleave.

An erased person stays suppressed without their number being kept: erasure replaces the address
in the list, its events and the inbound keyword records with a keyed pseudonym (HMAC-SHA256 under
HERALD_PSEUDONYM_KEY), and every lookup asks for an address and its pseudonym together. The one
exception is a segment page, which looks up the contact's number as stored; a pseudonymised one
is caught when its row is claimed, before any call.

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
import hashlib
import hmac
from typing import Iterable

import redis
from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.redis_store import get_redis
from app.services.state import claims
from app.services.channels import registry

log = logging.getLogger(__name__)

_ADD = text("""
INSERT INTO opt_outs (service_id, channel, address, source) VALUES (:sid, :channel, :address, :source)
ON CONFLICT DO NOTHING
""")
_REMOVE = text("""
DELETE FROM opt_outs WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:keys AS text[]))
""")
_EVENT = text("""
INSERT INTO opt_out_events (service_id, channel, address, action, source, actor, detail, occurred_at)
VALUES (:sid, :channel, :address, :action, :source, :actor, :detail, COALESCE(:occurred_at, now()))
""")
# One change at a time per address: an inbound keyword's order check and the change it makes are atomic.
_LOCK_ADDRESS = text("SELECT pg_advisory_xact_lock(hashtextextended(:sid || ':' || :channel || ':' || :address, 7))")
_OVERRIDE = text("""
INSERT INTO audit_log (service_id, actor, action, reason, details)
VALUES (:sid, :actor, 'suppression_override', :reason, CAST(:details AS jsonb))
""")
# Why a message may reach a suppressed address: a service-critical template, or the opt-out's own confirmation.
EXEMPTIONS = ("service_critical", "optout_confirmation")
_ALL = text("SELECT address FROM opt_outs WHERE service_id = :sid AND channel = :channel")
_AMONG = text("""
SELECT address FROM opt_outs
 WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:addresses AS text[]))
""")
PSEUDONYM_PREFIX = "pseudonym:"


class Suppressed(frozenset):
    """A service's list on a channel as a set: `address in it` also finds the address's pseudonym."""

    def __new__(cls, entries: Iterable[str], channel: str):
        """The entries as loaded; pseudonyms are only computed when the list holds any."""
        made = super().__new__(cls, entries)
        made.channel = channel
        made.pseudonymous = any(entry.startswith(PSEUDONYM_PREFIX) for entry in made)
        return made

    def __contains__(self, address) -> bool:
        """True when the address, or its pseudonym, is on the list."""
        if frozenset.__contains__(self, address):
            return True
        return self.pseudonymous and frozenset.__contains__(self, pseudonym(self.channel, address))


def pseudonym(channel: str, address: str) -> str:
    """The keyed pseudonym that stands for an erased address on a channel (the same for every service)."""
    key = current_app.config["HERALD_PSEUDONYM_KEY"].encode()
    digest = hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:40]


def lookup_keys(channel: str, addresses: Iterable[str]) -> list[str]:
    """Each address and its pseudonym, for a query that must find either."""
    found = []
    for address in addresses:
        found += [address, pseudonym(channel, address)]
    return found


def normalise(address: str, channel: str, region: str) -> str | None:
    """An address as messages store it on the channel (E.164 for SMS), or None when it cannot be one."""
    return registry.get(channel).normalise(address, region)


def lock_address(service_id: int, channel: str, address: str) -> None:
    """Serialise changes to one address until the transaction ends."""
    db.session.execute(_LOCK_ADDRESS, {"sid": service_id, "channel": channel, "address": address})


def change(service_id: int, channel: str, address: str, *, stopped: bool, source: str, actor: str,
           detail: str | None, occurred_at=None) -> bool:
    """Add (stopped) or remove an address and audit it, under the address lock; no commit. True if it changed.

    A removal also lifts the address's pseudonym (an erased person who texts START again).
    """
    params = {"sid": service_id, "channel": channel, "address": address}
    lock_address(service_id, channel, address)
    if stopped:
        changed = db.session.execute(_ADD, {**params, "source": source}).rowcount
    else:
        changed = db.session.execute(_REMOVE, {**params, "keys": lookup_keys(channel, [address])}).rowcount
    if changed:  # the audit records changes; a repeated STOP changes nothing
        db.session.execute(_EVENT, {**params, "action": "opt_out" if stopped else "opt_in", "source": source,
                                    "actor": actor, "detail": detail, "occurred_at": occurred_at})
    return bool(changed)


def opt_out(service_id: int, channel: str, address: str, *, source: str, actor: str,
            detail: str | None = None) -> bool:
    """Suppress an address and audit it, committing; True when it was not suppressed before."""
    return _change_now(service_id, channel, address, True, source, actor, detail)


def opt_in(service_id: int, channel: str, address: str, *, source: str, actor: str,
           detail: str | None = None) -> bool:
    """Lift a suppression and audit it, committing; True when the address was suppressed."""
    return _change_now(service_id, channel, address, False, source, actor, detail)


def _change_now(service_id: int, channel: str, address: str, stopped: bool, source: str, actor: str,
                detail: str | None) -> bool:
    """Change the list, commit, then tell sends in flight; True when it changed."""
    changed = change(service_id, channel, address, stopped=stopped, source=source, actor=actor, detail=detail)
    db.session.commit()
    if changed:
        note_recent(service_id, channel, address, stopped=stopped)
    return changed


def is_suppressed(service_id: int, channel: str, address: str) -> bool:
    """Whether one address (or its pseudonym) is on the list: one indexed lookup."""
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


def recent_member(address: str) -> str:
    """What a recent opt-outs set holds for an address: a keyed pseudonym, so Redis never holds a number."""
    return pseudonym("recent", address)


def note_recent(service_id: int, channel: str, address: str, stopped: bool) -> None:
    """Tell sends in flight: add (or, on START, remove) the address for as long as a claim can live.

    The list in PostgreSQL is already committed; without Redis, only batches claimed before the
    STOP can still reach the address (every later claim checks the list itself).
    """
    key = recent_key(service_id, channel)
    try:
        pipe = get_redis().pipeline()
        member = recent_member(address)
        pipe.sadd(key, member) if stopped else pipe.srem(key, member)
        pipe.pexpire(key, int(claims.journal_ttl(current_app.config["HERALD_LEASE_SECONDS"]) * 1000))
        pipe.execute()
    except redis.RedisError:
        log.exception("an opt-out of service %s on %s not announced to sends in flight", service_id, channel)


def suppressed(service_id: int, channel: str) -> Suppressed:
    """Every suppressed address (and pseudonym) of a service on a channel: one query, for intake."""
    return Suppressed(db.session.execute(_ALL, {"sid": service_id, "channel": channel}).scalars(), channel)


def suppressed_among(service_id: int, channel: str, addresses: list[str]) -> set[str]:
    """Which of these addresses are suppressed, as themselves or as pseudonyms: one query, for a claimed batch."""
    if not addresses:
        return set()
    keys = lookup_keys(channel, addresses)
    listed = set(db.session.execute(_AMONG, {"sid": service_id, "channel": channel, "addresses": keys}).scalars())
    return {address for address, key in zip(keys[::2], keys[1::2]) if address in listed or key in listed}


def history(service_id: int, channel: str | None, address: str | None, limit: int) -> list[dict]:
    """The newest audit rows, optionally for one channel and address."""
    rows = db.session.execute(text("""
        SELECT channel, address, action, source, actor, detail, created_at FROM opt_out_events
         WHERE service_id = :sid AND (CAST(:channel AS text) IS NULL OR channel = :channel)
           AND (CAST(:address AS text) IS NULL OR address = ANY(CAST(:keys AS text[])))
         ORDER BY id DESC LIMIT :limit"""), {"sid": service_id, "channel": channel, "address": address,
                                              "keys": lookup_keys(channel or registry.DEFAULT, [address] if address else []),
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
    claims.mark_opted_out(claim, [row.id for row in claim.rows if row.recipient in stopped])
    return [row for row in claim.rows if row.recipient not in stopped]


# Erasure keeps who asked what and when (the evidence behind the suppression) under a pseudonym,
# not the number and not what they wrote.
_PSEUDONYMISE_LIST = text("""
WITH gone AS (
  DELETE FROM opt_outs WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:addresses AS text[]))
  RETURNING source, created_at
)
INSERT INTO opt_outs (service_id, channel, address, source, created_at)
SELECT :sid, :channel, :pseudonym, min(source), min(created_at) FROM gone HAVING count(*) > 0
ON CONFLICT DO NOTHING
""")
_PSEUDONYMISE_EVENTS = text("""
UPDATE opt_out_events
   SET address = :pseudonym, detail = NULL,
       actor = CASE WHEN actor LIKE 'inbound:+%' OR actor LIKE 'inbound:%@%' THEN 'inbound' ELSE actor END
 WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:addresses AS text[]))
""")
_PSEUDONYMISE_KEYWORDS = text("""
UPDATE inbound_messages SET address = :pseudonym
 WHERE service_id = :sid AND channel = :channel AND address = ANY(CAST(:addresses AS text[]))
""")


def minimise_for_erasure(service_id: int, channels: list[str], addresses: list[str]) -> dict:
    """Keep an erased person suppressed under a pseudonym, with its history but not their texts. Caller commits.

    A new import of the same number must not reach someone who said STOP: the list, its events
    and the inbound keyword records keep the pseudonym every lookup also asks for. Redis's set of
    recent opt-outs forgets the number after the commit (forget_recent).
    """
    kept = events = keywords = 0
    for channel in channels:
        for address in addresses:
            params = {"sid": service_id, "channel": channel, "addresses": [address],
                      "pseudonym": pseudonym(channel, address)}
            db.session.execute(_PSEUDONYMISE_LIST, params)
            kept += db.session.execute(_AMONG, {**params, "addresses": [params["pseudonym"]]}).first() is not None
            events += db.session.execute(_PSEUDONYMISE_EVENTS, params).rowcount
            keywords += db.session.execute(_PSEUDONYMISE_KEYWORDS, params).rowcount
    return {"suppressions_pseudonymised": kept, "opt_out_events_pseudonymised": events,
            "inbound_keywords_pseudonymised": keywords}


def withhold_erased(service_id: int, channels: list[str], addresses: list[str]) -> None:
    """Tell sends in flight that these addresses were erased: their calls are withheld like a STOP's.

    A row a worker holds but has not sent yet goes back to the queue, where its tombstone
    cancels it (message_state). The sets hold pseudonyms, and expire with the longest claim.
    """
    ttl_ms = int(claims.journal_ttl(current_app.config["HERALD_LEASE_SECONDS"]) * 1000)
    try:
        pipe = get_redis().pipeline()
        for channel in channels:
            pipe.sadd(recent_key(service_id, channel), *[recent_member(a) for a in addresses])
            pipe.pexpire(recent_key(service_id, channel), ttl_ms)
        pipe.execute()
    except redis.RedisError:
        log.exception("an erasure of service %s not announced to sends in flight", service_id)
