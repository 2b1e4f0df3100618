"""Every status change of a message: guarded, set-based UPDATEs in short transactions.

This module (claims, batch outcomes, cancel, requeue) and message_reports (the moves delivery
reports drive) are the only writers of `messages.status`. Each function moves rows only from the
states it names (compare-and-set), so a late worker, a duplicate report or a reclaimed lease can
never move a row backwards. A row whose person was erased (its recipient a tombstone) never goes
back to `pending`: every way back cancels it instead, and a claim closes any it finds.
"""
from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.services import call_journal, message_parts, message_reports, quota
from app.services.message_reports import unnest_columns

log = logging.getLogger(__name__)

_CLAIM = text("""
UPDATE messages m
   SET status = 'processing', claim_token = :token, attempts = m.attempts + 1,
       lease_expires_at = now() + make_interval(secs => :lease), updated_at = now()
  FROM (SELECT id FROM messages
         WHERE broadcast_id = :bid AND status = 'pending' AND next_attempt_at <= now()
         ORDER BY id
         LIMIT :limit
         FOR UPDATE SKIP LOCKED) due
 WHERE m.id = due.id
RETURNING m.id, m.recipient, m.personalisation, m.attempts, m.carrier, m.provider, m.route
""")

# A routed broadcast's claim also picks each row's route from the plan (app.services.routing):
# the first plan key matching the row's region and carrier, most specific first (a row stored
# before regions were kept matches by calling code). Rows whose key has no usable route (every
# candidate account's breaker open or quota spent) are not claimed: they wait.
_ROUTE_PICK = """(SELECT r.i FROM unnest(CAST(:r_region AS text[]), CAST(:r_prefix AS text[]),
                                         CAST(:r_carrier AS text[])) WITH ORDINALITY AS r(region, prefix, carrier, i)
                  WHERE (r.region IN ('*', m.region) OR (m.region IS NULL AND starts_with(m.recipient, r.prefix)))
                    AND r.carrier IN ('*', lower(m.carrier))
                  ORDER BY r.i LIMIT 1)"""
ROUTE_PICK = _ROUTE_PICK
# A pinned row (its last call's outcome unknown) keeps the account, route and price it was called
# with, and is claimable only while that account is up with quota left: another account would not
# know its idempotency key and could deliver it twice.
_ROUTABLE = f"""CASE WHEN m.pinned THEN m.provider = ANY(CAST(:up_accounts AS text[]))
                     ELSE (CAST(:r_usable AS boolean[]))[{_ROUTE_PICK}] END"""
_ROUTED_CHOICE = """CASE WHEN c.pinned THEN c.provider ELSE (CAST(:r_account AS text[]))[c.pick] END AS account,
       CASE WHEN c.pinned THEN c.route ELSE (CAST(:r_route AS text[]))[c.pick] END AS route,
       CASE WHEN c.pinned THEN c.price ELSE (CAST(:r_price AS numeric[]))[c.pick] END AS price"""
# What a routed claim sets: leased, and the account, route and price chosen in `due`.
_ROUTED_LEASE = """status = 'processing', claim_token = :token, attempts = m.attempts + 1,
       lease_expires_at = now() + make_interval(secs => :lease), updated_at = now(),
       provider = due.account, route = due.route, price = due.price"""
# Each quota-limited account takes no more rows than it has left (its window row is locked by the
# caller until this commits, so racing workers never overshoot); the surplus stays pending.
_CLAIM_ROUTED = text(f"""
UPDATE messages m
   SET {_ROUTED_LEASE}
  FROM (SELECT * FROM (
          SELECT a.*, row_number() OVER (PARTITION BY a.account ORDER BY a.id) AS n
            FROM (SELECT c.id, {_ROUTED_CHOICE}
                    FROM (SELECT m.id, m.pinned, m.provider, m.route, m.price, {_ROUTE_PICK} AS pick FROM messages m
                           WHERE m.broadcast_id = :bid AND m.status = 'pending' AND m.next_attempt_at <= now()
                             AND {_ROUTABLE}
                           ORDER BY m.id
                           LIMIT :limit
                           FOR UPDATE SKIP LOCKED) c) a) ranked
         WHERE ranked.n <= COALESCE((CAST(:left_counts AS bigint[]))[
                                      array_position(CAST(:left_accounts AS text[]), ranked.account)], :limit)) due
 WHERE m.id = due.id
RETURNING m.id, m.recipient, m.personalisation, m.attempts, m.carrier, m.provider, m.route
""")
# Pinned rows whose account stayed down past the wait: dead letters (outcome unknown), never another
# account. One policy for broadcast and transactional rows; {scope} is the rows one claim considers.
_DEAD_PINNED = """
WITH failed AS (
  UPDATE messages m
     SET status = 'failed', error_code = 'account_down', finished_at = now(), updated_at = now(),
         error_detail = 'the account that made the call of unknown outcome stayed down; '
                        'another account would not recognise its idempotency key'
   WHERE {scope} AND m.status = 'pending' AND m.pinned
     AND m.provider = ANY(CAST(:down AS text[])) AND m.next_attempt_at < now() - make_interval(secs => :wait)
  RETURNING m.id, m.broadcast_id, m.service_id, m.attempts, m.error_code, m.error_detail
)
INSERT INTO dead_letters (message_id, broadcast_id, service_id, attempts, reason, error_code, error_detail)
SELECT id, broadcast_id, service_id, attempts, 'outcome_unknown', error_code, error_detail FROM failed
ON CONFLICT (message_id) WHERE resolved_at IS NULL DO NOTHING
RETURNING id
"""
_DEAD_PINNED_OF_BROADCAST = text(_DEAD_PINNED.format(scope="m.broadcast_id = :bid"))
_DEAD_PINNED_TRANSACTIONAL = text(_DEAD_PINNED.format(scope="m.id = :mid AND m.broadcast_id IS NULL"))

_MARK_SENT = text("""
UPDATE messages m
   SET status = 'sent', provider_message_id = v.pid,
       cost = COALESCE(v.cost, m.price * v.segments),
       currency = COALESCE(v.currency, CASE WHEN m.price IS NOT NULL THEN CAST(:price_currency AS text) END),
       segments = v.segments, sent_at = now(), claim_token = NULL, lease_expires_at = NULL,
       error_code = NULL, error_detail = NULL, updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:pids AS text[]), CAST(:costs AS numeric[]),
              CAST(:currencies AS text[]), CAST(:segments AS smallint[]))
       AS v(id, pid, cost, currency, segments)
 WHERE m.id = v.id AND m.status = 'processing' AND m.claim_token = :token
""")

# Rows going back to the queue: cancelled instead if their person was erased or their broadcast
# was cancelled meanwhile (the tombstone test reads the row being updated: no extra lookup).
TOMBSTONE_PREFIX = "erased:"
ERASED_CODE = "contact_erased"
_ERASED = f"starts_with(m.recipient, '{TOMBSTONE_PREFIX}')"
_STAYS_OUT = f"""({_ERASED} OR EXISTS (SELECT 1 FROM broadcasts b WHERE b.id = m.broadcast_id
                                                 AND b.status = 'cancelled'))"""
_BACK_TO_QUEUE = f"CASE WHEN {_STAYS_OUT} THEN 'cancelled' ELSE 'pending' END"
_FINISHED_IF_CANCELLED = f"CASE WHEN {_STAYS_OUT} THEN now() END"


def _code_unless_erased(code: str) -> str:
    """The error code a row going back is given, or contact_erased when its person was erased."""
    return f"CASE WHEN {_ERASED} THEN '{ERASED_CODE}' ELSE {code} END"


# A retry after an unknown outcome pins the row to the account that made the call (for good: that
# call may yet be delivered, and only that account would know a second copy by its key).
_MARK_RETRY = text(f"""
UPDATE messages m
   SET status = {_BACK_TO_QUEUE}, finished_at = {_FINISHED_IF_CANCELLED},
       next_attempt_at = now() + make_interval(secs => v.delay),
       error_code = {_code_unless_erased("v.code")}, error_detail = v.detail, claim_token = NULL,
       lease_expires_at = NULL, pinned = m.pinned OR v.pin, updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[]), CAST(:codes AS text[]),
              CAST(:details AS text[]), CAST(:pins AS boolean[])) AS v(id, delay, code, detail, pin)
 WHERE m.id = v.id AND m.status = 'processing' AND m.claim_token = :token
RETURNING m.provider
""")

# A 429 is the gateway asking for time, not a failed attempt: the attempt is given back.
_DEFER = text(f"""
UPDATE messages m
   SET status = {_BACK_TO_QUEUE}, finished_at = {_FINISHED_IF_CANCELLED}, next_attempt_at = now() + make_interval(secs => v.delay), attempts = m.attempts - 1,
       error_code = {_code_unless_erased("'rate_limited'")}, claim_token = NULL, lease_expires_at = NULL,
       updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[])) AS v(id, delay)
 WHERE m.id = v.id AND m.status = 'processing' AND m.claim_token = :token
RETURNING m.provider
""")

# Claims the gateway never had go back with their attempt: to pending, or to cancelled if the
# broadcast was cancelled meanwhile (transactional rows have no broadcast and simply go back).
_RELEASE_TEMPLATE = """
UPDATE messages m
   SET status = {back}, finished_at = {finished}, error_code = {code},
       attempts = GREATEST(m.attempts - 1, 0), claim_token = NULL, lease_expires_at = NULL,
       updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = 'processing' AND {guard}
RETURNING m.provider
"""
_RELEASE = text(_RELEASE_TEMPLATE.format(back=_BACK_TO_QUEUE, finished=_FINISHED_IF_CANCELLED,
                                         code=_code_unless_erased("m.error_code"), guard="m.claim_token = :token"))

# Failing a message and opening its dead-letter entry happen in one statement.
_MARK_DEAD_TEMPLATE = """
WITH v AS (
  SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[]), CAST(:codes AS text[]),
                       CAST(:details AS text[])) AS v(id, reason, code, detail)
), failed AS (
  UPDATE messages m
     SET status = 'failed', error_code = v.code, error_detail = v.detail, finished_at = now(),
         claim_token = NULL, lease_expires_at = NULL, updated_at = now()
    FROM v
   WHERE m.id = v.id AND m.status = 'processing' AND {guard}
  RETURNING m.id, m.broadcast_id, m.service_id, m.attempts, m.provider, v.reason, v.code, v.detail
)
INSERT INTO dead_letters (message_id, broadcast_id, service_id, attempts, reason, error_code, error_detail)
SELECT id, broadcast_id, service_id, attempts, reason, code, detail FROM failed
ON CONFLICT (message_id) WHERE resolved_at IS NULL DO NOTHING
RETURNING id, reason, (SELECT f.provider FROM failed f WHERE f.id = dead_letters.message_id) AS provider
"""
_MARK_DEAD = text(_MARK_DEAD_TEMPLATE.format(guard="m.claim_token = :token"))

_EXPIRED = text("""
SELECT m.id, m.attempts, m.claim_token, b.status AS broadcast_status, COALESCE(m.provider, b.provider) AS provider
  FROM messages m LEFT JOIN broadcasts b ON b.id = m.broadcast_id
 WHERE m.status = 'processing' AND m.lease_expires_at < now()
 ORDER BY m.lease_expires_at
 LIMIT :limit
   FOR UPDATE OF m SKIP LOCKED
""")

_CLAIM_ONE = text("""
UPDATE messages
   SET status = 'processing', claim_token = :token, attempts = attempts + 1,
       lease_expires_at = now() + make_interval(secs => :lease), updated_at = now()
 WHERE id = :mid AND broadcast_id IS NULL AND status = 'pending' AND next_attempt_at <= now()
RETURNING id, recipient, personalisation, attempts, body, provider, service_id, carrier, suppression_exempt
""")
_CLAIM_ONE_ROUTED = text(f"""
UPDATE messages m
   SET {_ROUTED_LEASE}
  FROM (SELECT c.id, {_ROUTED_CHOICE}
          FROM (SELECT m.id, m.pinned, m.provider, m.route, m.price, {_ROUTE_PICK} AS pick FROM messages m
                 WHERE m.id = :mid AND {_ROUTABLE}) c) due
 WHERE m.id = due.id AND m.broadcast_id IS NULL AND m.status = 'pending' AND m.next_attempt_at <= now()
RETURNING m.id, m.recipient, m.personalisation, m.attempts, m.body, m.provider, m.service_id, m.carrier,
          m.suppression_exempt
""")
_DUE_TRANSACTIONAL = text("""
SELECT id FROM messages
 WHERE broadcast_id IS NULL AND status = 'pending' AND next_attempt_at <= now() - make_interval(secs => :grace)
 ORDER BY next_attempt_at, id LIMIT :limit
""")

# Safety net for the race between a cancel and a retry written at the same moment.
_CANCEL_STRAGGLERS = text("""
UPDATE messages m SET status = 'cancelled', finished_at = now(), updated_at = now()
  FROM broadcasts b
 WHERE b.status = 'cancelled' AND b.finished_at > now() - make_interval(secs => :within)
   AND m.broadcast_id = b.id AND m.status = 'pending'
""")

_CANCEL_PENDING = text("""
UPDATE messages SET status = 'cancelled', finished_at = now(), updated_at = now()
 WHERE broadcast_id = :bid AND status = 'pending'
""")

# A failed row of an erased person is cancelled rather than sent again to its tombstone.
_REQUEUE = text(f"""
UPDATE messages m
   SET status = {_BACK_TO_QUEUE}, attempts = 0, next_attempt_at = now(),
       error_code = {_code_unless_erased("NULL")}, error_detail = NULL, finished_at = {_FINISHED_IF_CANCELLED},
       updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = 'failed'
RETURNING m.id, m.status
""")

# Erasure: every message of the service to these addresses gets a tombstone unique to the row
# (messages is UNIQUE (broadcast_id, recipient)); rows not yet claimed are cancelled. Rows a worker
# holds keep their status: their way back to the queue cancels them (_BACK_TO_QUEUE).
_TOMBSTONE = text(f"""
UPDATE messages m SET recipient = '{TOMBSTONE_PREFIX}' || m.id, personalisation = NULL,
       status = CASE WHEN m.status = 'pending' THEN 'cancelled' ELSE m.status END,
       error_code = CASE WHEN m.status = 'pending' THEN '{ERASED_CODE}' ELSE m.error_code END,
       error_detail = CASE WHEN EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n
                                         WHERE strpos(lower(m.error_detail), n) > 0) THEN NULL
                           ELSE m.error_detail END,
       body = CASE WHEN EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n
                                 WHERE strpos(lower(m.body), n) > 0) THEN NULL ELSE m.body END,
       finished_at = CASE WHEN m.status = 'pending' THEN now() ELSE m.finished_at END, updated_at = now()
 WHERE m.service_id = :sid AND m.recipient = ANY(CAST(:addresses AS text[]))
RETURNING m.id, m.provider_message_id, m.status = 'cancelled' AND m.error_code = '{ERASED_CODE}' AS cancelled
""")
# A claimed row whose person was erased: closed, its attempt and quota given back.
_CANCEL_ERASED = text(f"""
UPDATE messages m
   SET status = 'cancelled', error_code = '{ERASED_CODE}', finished_at = now(), claim_token = NULL,
       lease_expires_at = NULL, attempts = GREATEST(m.attempts - 1, 0), updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = 'processing' AND m.claim_token = :token
""")


@dataclass
class Claim:
    """Rows leased to one caller, and the quota windows they were reserved from."""

    token: uuid.UUID
    rows: list
    scopes: list = field(default_factory=list)
    quota_exhausted: bool = False
    # Dead letters the claim opened for pinned rows whose account stayed down.
    dead_letters: list[int] = field(default_factory=list)


@dataclass
class BatchOutcome:
    """What happened to one claimed batch, gathered in memory, written in one transaction."""

    token: uuid.UUID
    scopes: list = field(default_factory=list)
    sent: list[tuple[int, str, Decimal | None, str | None, int]] = field(default_factory=list)
    retry: list[tuple[int, float, str, str]] = field(default_factory=list)
    dead: list[tuple[int, str, str, str]] = field(default_factory=list)
    deferred: list[tuple[int, float]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    # Retried rows whose call's outcome is unknown: they stay on the account that made it.
    pinned: list[int] = field(default_factory=list)
    # Sent rows the gateway took as several parts, each under its own id: (id, the parts' ids in order).
    parts: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

    def extend(self, other: "BatchOutcome") -> None:
        """Add another share of the same claim (sent through another account)."""
        for name in ("sent", "retry", "dead", "deferred", "released", "pinned", "parts"):
            getattr(self, name).extend(getattr(other, name))


def journal_ttl(lease_seconds: float) -> float:
    """How long a claim's journal outlives its lease, so the reaper still finds it after an outage."""
    return max(lease_seconds * 10, 600.0)


def claim_batch(broadcast_id, limit: int, lease_seconds: float, scopes: list | None = None,
                route_plan=None) -> Claim:
    """Lease up to `limit` due pending rows of a broadcast, within its quotas, and commit.

    With a route plan (a routed broadcast) each row is given its route as it is leased, within
    what its account's quota has left; pinned rows whose account stayed down are dead-lettered.
    """
    token = uuid.uuid4()
    scopes = scopes or []
    allowance, left = quota.lock_allowance(scopes)
    if allowance is not None and allowance < limit:
        limit = allowance
    if limit <= 0:
        db.session.commit()
        return Claim(token, [], scopes, quota_exhausted=True)
    dead = _expire_pinned(_DEAD_PINNED_OF_BROADCAST, {"bid": broadcast_id}, route_plan)
    # The journal exists before any row is leased, so a reaper can always tell attempted from not.
    call_journal.open_journal(token, scopes, journal_ttl(lease_seconds))
    params = {"token": token, "lease": float(lease_seconds), "bid": broadcast_id, "limit": limit}
    if route_plan is None:
        rows = db.session.execute(_CLAIM, params).all()
    else:
        rows = db.session.execute(_CLAIM_ROUTED, {**params, **route_plan.params(left)}).all()
    rows = _close_erased(token, rows)
    quota.consume(scopes, len(rows), Counter(row.provider for row in rows))
    db.session.commit()
    return Claim(token, rows, scopes, dead_letters=dead)


def _expire_pinned(statement, scope: dict, route_plan) -> list[int]:
    """Dead-letter the scope's pinned rows whose account has been down past the wait; the new dead-letter ids."""
    if route_plan is None or not route_plan.down:
        return []
    return list(db.session.execute(statement, {
        **scope, "down": route_plan.down,
        "wait": float(current_app.config["HERALD_PINNED_RETRY_WAIT_SECONDS"])}).scalars())


def _close_erased(token, rows: list) -> list:
    """Cancel just-claimed rows addressed to a tombstone (none should be pending); the rest, to send."""
    erased = [row.id for row in rows if row.recipient.startswith(TOMBSTONE_PREFIX)]
    if not erased:
        return rows
    db.session.execute(_CANCEL_ERASED, {"token": token, "ids": erased})
    return [row for row in rows if not row.recipient.startswith(TOMBSTONE_PREFIX)]


def tombstone_recipients(service_id: int, addresses: list[str]) -> list:
    """Replace these addresses by tombstones in the service's messages, cancel unclaimed ones. Caller commits.

    Returns (id, provider_message_id, cancelled) per row changed.
    """
    needles = [address.lower().lstrip("+") for address in addresses]
    return db.session.execute(_TOMBSTONE, {"sid": service_id, "addresses": addresses, "needles": needles}).all()


_MARK_OPTED_OUT = text("""
UPDATE messages m
   SET status = 'opted_out', error_code = 'opted_out', finished_at = now(), claim_token = NULL,
       lease_expires_at = NULL, attempts = GREATEST(m.attempts - 1, 0), updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = 'processing' AND m.claim_token = :token
RETURNING m.provider
""")


def mark_opted_out(claim: Claim, ids: list[int]) -> int:
    """Close claimed rows whose recipient opted out since intake, refund their quota; commit."""
    moved = db.session.execute(_MARK_OPTED_OUT, {"token": claim.token, "ids": ids}).scalars().all()
    _refund(claim.scopes, moved)
    db.session.commit()
    return len(moved)


def _refund(scopes: list, providers: list) -> None:
    """Give back the quota of rows the gateway did not take, each to its account's scope too (caller commits)."""
    quota.consume(scopes, -len(providers), {account: -n for account, n in Counter(providers).items()})


def record_outcome(outcome: BatchOutcome) -> list[int]:
    """Write a batch's results in one transaction and return the new dead-letter ids.

    Safe to call again after a failed commit: every statement is guarded by the claim
    token, and the quota refund counts only rows this call really moved.
    """
    token = outcome.token
    dead_ids: list[int] = []
    not_taken: list = []  # the account of each row the gateway did not take
    if outcome.sent:
        message_parts.record(token, outcome.parts)
        ids, pids, costs, currencies, segments = unnest_columns(outcome.sent, 5)
        db.session.execute(_MARK_SENT, {"token": token, "ids": ids, "pids": pids, "costs": costs,
                                        "currencies": currencies, "segments": segments,
                                        "price_currency": current_app.config["HERALD_SMS_CURRENCY"]})
    if outcome.retry:
        ids, delays, codes, details = unnest_columns(outcome.retry, 4)
        pinned = set(outcome.pinned)
        not_taken += db.session.execute(_MARK_RETRY, {"token": token, "ids": ids, "delays": delays, "codes": codes,
                                                      "details": details,
                                                      "pins": [mid in pinned for mid in ids]}).scalars().all()
    if outcome.dead:
        dead_ids, refused = _mark_dead(token, outcome.dead)
        not_taken += refused
    if outcome.deferred:
        ids, delays = unnest_columns(outcome.deferred, 2)
        not_taken += db.session.execute(_DEFER, {"token": token, "ids": ids, "delays": delays}).scalars().all()
    if outcome.released:
        not_taken += db.session.execute(_RELEASE, {"token": token, "ids": outcome.released}).scalars().all()
    # The gateway did not take these, so their quota goes back (an unknown outcome keeps its share).
    _refund(outcome.scopes, not_taken)
    db.session.commit()
    if outcome.sent:
        _settle_waiting_reports([sent[0] for sent in outcome.sent], [split[0] for split in outcome.parts])
    return dead_ids


def _settle_waiting_reports(ids: list[int], split: list[int]) -> None:
    """Settle rows whose final report came before they were recorded as sent, once they are committed.

    Looking after the commit, not inside the write's transaction, leaves no gap: a report stored
    before the commit is seen here, one stored after it finds the row `sent` (an SMSC's receipt can
    follow its submit_sm_resp within a millisecond). If this look fails, the applier's rechecks
    settle the row later.
    """
    try:
        in_parts = set(split)
        whole = [mid for mid in ids if mid not in in_parts]
        settled = message_reports.apply_waiting_reports(whole) if whole else 0
        if split:  # parts given their receipts are kept even while others are still missing
            message_parts.mark_waiting(split)
            settled += message_reports.settle_split(split)
        if settled or split:
            db.session.commit()
        else:
            db.session.rollback()
    except SQLAlchemyError:
        log.warning("second look for delivery reports of %d sent rows failed; rechecks will settle them", len(ids))
        db.session.rollback()


def _mark_dead(token, dead: list[tuple[int, str, str, str]]) -> tuple[list[int], list]:
    """Fail rows and open their dead letters; return their ids and the account of each the gateway surely refused."""
    ids, reasons, codes, details = unnest_columns(dead, 4)
    opened = db.session.execute(_MARK_DEAD, {"token": token, "ids": ids, "reasons": reasons,
                                             "codes": codes, "details": details}).all()
    return [row.id for row in opened], [row.provider for row in opened if row.reason != "outcome_unknown"]


def expired_claims(limit: int = 5000) -> list:
    """Rows whose lease ran out, locked until the next commit: (id, attempts, claim_token, status, provider)."""
    return db.session.execute(_EXPIRED, {"limit": limit}).all()


def settle_nothing() -> list[int]:
    """End the reaper's transaction when it found nothing to settle."""
    db.session.commit()
    return []


def cancel_pending(broadcast_id) -> int:
    """Cancel a broadcast's unclaimed rows; claimed ones follow when released. Caller commits."""
    return db.session.execute(_CANCEL_PENDING, {"bid": broadcast_id}).rowcount


def cancel_stragglers(within_seconds: float = 3600) -> int:
    """Cancel rows that went back to pending just as their broadcast was cancelled; commit."""
    moved = db.session.execute(_CANCEL_STRAGGLERS, {"within": within_seconds}).rowcount
    db.session.commit()
    return moved


def requeue_failed(message_id: int) -> bool:
    """Put one failed message back to pending with fresh attempts. Caller commits."""
    return requeue_failed_many([message_id]) == [message_id]


def requeue_failed_many(message_ids: list[int]) -> list[int]:
    """Put failed messages back to pending with fresh attempts; return those moved. Caller commits.

    A message whose person was erased, or whose broadcast was cancelled, is cancelled instead
    (and counts as moved: its dead letter is settled either way).
    """
    if not message_ids:
        return []
    return [row.id for row in db.session.execute(_REQUEUE, {"ids": message_ids})]


def claim_transactional(message_id: int, lease_seconds: float, scopes: list | None = None,
                        route_plan=None) -> Claim:
    """Lease one due transactional message, within its quotas (routed by the plan if given), and commit.

    A pinned message whose account stayed down past the wait is dead-lettered instead, as in claim_batch.
    """
    token = uuid.uuid4()
    scopes = scopes or []
    allowance, left = quota.lock_allowance(scopes)
    if allowance == 0:
        db.session.commit()
        return Claim(token, [], scopes, quota_exhausted=True)
    dead = _expire_pinned(_DEAD_PINNED_TRANSACTIONAL, {"mid": message_id}, route_plan)
    call_journal.open_journal(token, scopes, journal_ttl(lease_seconds))
    params = {"token": token, "lease": float(lease_seconds), "mid": message_id}
    if route_plan is None:
        rows = db.session.execute(_CLAIM_ONE, params).all()
    else:
        rows = db.session.execute(_CLAIM_ONE_ROUTED, {**params, **route_plan.params(left)}).all()
    rows = _close_erased(token, rows)
    quota.consume(scopes, len(rows), Counter(row.provider for row in rows))
    db.session.commit()
    return Claim(token, rows, scopes, dead_letters=dead)


def due_transactional(grace_seconds: float, limit: int = 1000) -> list[int]:
    """Transactional messages due for a while with nobody sending them (their wake-up was lost)."""
    ids = list(db.session.execute(_DUE_TRANSACTIONAL, {"grace": grace_seconds, "limit": limit}).scalars())
    db.session.rollback()
    return ids
