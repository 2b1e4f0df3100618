"""Claims: leasing due rows to a worker (pending → processing), within quotas and routes, journal opened first.

A claim opens its call journal before any row is leased, reserves the quota of what it leases in
the same transaction, gives each routed row its route as it is leased, dead-letters pinned rows
whose account stayed down, and closes rows addressed to an erased person instead of handing
them out. One of the writers of `messages.status` (see app.services.state).
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.services.limits import quota
from app.services.state import call_journal
from app.services.state.message_state import ERASED_CODE, OPTED_OUT_CODE, TOMBSTONE_PREFIX
from app.statuses import MessageStatus, sql_literal

_CLAIM = text(f"""
UPDATE messages m
   SET status = {sql_literal(MessageStatus.PROCESSING)}, claim_token = :token, attempts = m.attempts + 1,
       lease_expires_at = now() + make_interval(secs => :lease), updated_at = now()
  FROM (SELECT id FROM messages
         WHERE broadcast_id = :bid AND status = {sql_literal(MessageStatus.PENDING)} AND next_attempt_at <= now()
         ORDER BY id
         LIMIT :limit
         FOR UPDATE SKIP LOCKED) due
 WHERE m.id = due.id
RETURNING m.id, m.recipient, m.personalisation, m.attempts, m.carrier, m.provider, m.route
""")


# A routed broadcast's claim also picks each row's route from the plan (app.services.sending.routing):
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
_ROUTED_LEASE = f"""status = {sql_literal(MessageStatus.PROCESSING)},
       claim_token = :token, attempts = m.attempts + 1,
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
                           WHERE m.broadcast_id = :bid AND m.status = {sql_literal(MessageStatus.PENDING)}
                             AND m.next_attempt_at <= now() AND {_ROUTABLE}
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
_DEAD_PINNED = f"""
WITH failed AS (
  UPDATE messages m
     SET status = {sql_literal(MessageStatus.FAILED)}, error_code = 'account_down', finished_at = now(),
         updated_at = now(),
         error_detail = 'the account that made the call of unknown outcome stayed down; '
                        'another account would not recognise its idempotency key'
   WHERE {{scope}} AND m.status = {sql_literal(MessageStatus.PENDING)} AND m.pinned
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


_EXPIRED = text(f"""
SELECT m.id, m.attempts, m.claim_token, b.status AS broadcast_status, COALESCE(m.provider, b.provider) AS provider
  FROM messages m LEFT JOIN broadcasts b ON b.id = m.broadcast_id
 WHERE m.status = {sql_literal(MessageStatus.PROCESSING)} AND m.lease_expires_at < now()
 ORDER BY m.lease_expires_at
 LIMIT :limit
   FOR UPDATE OF m SKIP LOCKED
""")


_CLAIM_ONE = text(f"""
UPDATE messages
   SET status = {sql_literal(MessageStatus.PROCESSING)}, claim_token = :token, attempts = attempts + 1,
       lease_expires_at = now() + make_interval(secs => :lease), updated_at = now()
 WHERE id = :mid AND broadcast_id IS NULL AND status = {sql_literal(MessageStatus.PENDING)}
   AND next_attempt_at <= now()
RETURNING id, recipient, personalisation, attempts, body, provider, service_id, carrier, suppression_exempt
""")


_CLAIM_ONE_ROUTED = text(f"""
UPDATE messages m
   SET {_ROUTED_LEASE}
  FROM (SELECT c.id, {_ROUTED_CHOICE}
          FROM (SELECT m.id, m.pinned, m.provider, m.route, m.price, {_ROUTE_PICK} AS pick FROM messages m
                 WHERE m.id = :mid AND {_ROUTABLE}) c) due
 WHERE m.id = due.id AND m.broadcast_id IS NULL AND m.status = {sql_literal(MessageStatus.PENDING)}
   AND m.next_attempt_at <= now()
RETURNING m.id, m.recipient, m.personalisation, m.attempts, m.body, m.provider, m.service_id, m.carrier,
          m.suppression_exempt
""")


_DUE_TRANSACTIONAL = text(f"""
SELECT id FROM messages
 WHERE broadcast_id IS NULL AND status = {sql_literal(MessageStatus.PENDING)}
   AND next_attempt_at <= now() - make_interval(secs => :grace)
 ORDER BY next_attempt_at, id LIMIT :limit
""")


def _closing(status: MessageStatus, code: str):
    """Close claimed rows that never reached a gateway, with this status and code: their attempt given back."""
    return text(f"""
UPDATE messages m
   SET status = {sql_literal(status)}, error_code = '{code}', finished_at = now(), claim_token = NULL,
       lease_expires_at = NULL, attempts = GREATEST(m.attempts - 1, 0), updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = {sql_literal(MessageStatus.PROCESSING)}
   AND m.claim_token = :token
RETURNING m.provider
""")


# A claimed row whose person was erased: cancelled before any call (its quota is never taken).
_CANCEL_ERASED = _closing(MessageStatus.CANCELLED, ERASED_CODE)



@dataclass(frozen=True)
class _Statements:
    """How one kind of claim leases its rows: unrouted, routed, and expiring its pinned rows."""

    plain: object
    routed: object
    dead_pinned: object


_BROADCAST_ROWS = _Statements(_CLAIM, _CLAIM_ROUTED, _DEAD_PINNED_OF_BROADCAST)
_ONE_MESSAGE = _Statements(_CLAIM_ONE, _CLAIM_ONE_ROUTED, _DEAD_PINNED_TRANSACTIONAL)


@dataclass
class Claim:
    """Rows leased to one caller, and the quota windows they were reserved from."""

    token: uuid.UUID
    rows: list
    scopes: list = field(default_factory=list)
    quota_exhausted: bool = False
    # Dead letters the claim opened for pinned rows whose account stayed down.
    dead_letters: list[int] = field(default_factory=list)


def journal_ttl(lease_seconds: float) -> float:
    """How long a claim's journal outlives its lease, so the reaper still finds it after an outage."""
    return max(lease_seconds * 10, 600.0)


def claim_batch(broadcast_id, limit: int, lease_seconds: float, scopes: list | None = None,
                route_plan=None) -> Claim:
    """Lease up to `limit` due pending rows of a broadcast, within its quotas, and commit.

    With a route plan (a routed broadcast) each row is given its route as it is leased, within
    what its account's quota has left; pinned rows whose account stayed down are dead-lettered.
    """
    return _lease(_BROADCAST_ROWS, {"bid": broadcast_id}, limit, lease_seconds, scopes or [], route_plan)


def _lease(statements: "_Statements", scope: dict, limit: int, lease_seconds: float, scopes: list,
           route_plan) -> Claim:
    """Reserve quota, open the journal, lease up to `limit` rows of the scope (routed by the plan), and commit."""
    token = uuid.uuid4()
    allowance, left = quota.lock_allowance(scopes)
    if allowance is not None and allowance < limit:
        limit = allowance
    if limit <= 0:
        db.session.commit()
        return Claim(token, [], scopes, quota_exhausted=True)
    dead = _expire_pinned(statements.dead_pinned, scope, route_plan)
    # The journal exists before any row is leased, so a reaper can always tell attempted from not.
    call_journal.open_journal(token, scopes, journal_ttl(lease_seconds))
    params = {**scope, "token": token, "lease": float(lease_seconds), "limit": limit}
    if route_plan is None:
        rows = db.session.execute(statements.plain, params).all()
    else:
        rows = db.session.execute(statements.routed, {**params, **route_plan.params(left)}).all()
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


# A claimed row whose recipient opted out since intake: closed before any call, its quota given back.
_MARK_OPTED_OUT = _closing(MessageStatus.OPTED_OUT, OPTED_OUT_CODE)


def mark_opted_out(claim: Claim, ids: list[int]) -> int:
    """Close claimed rows whose recipient opted out since intake, refund their quota; commit."""
    moved = db.session.execute(_MARK_OPTED_OUT, {"token": claim.token, "ids": ids}).scalars().all()
    quota.give_back(claim.scopes, moved)
    db.session.commit()
    return len(moved)


def expired_claims(limit: int = 5000) -> list:
    """Rows whose lease ran out, locked until the next commit: (id, attempts, claim_token, status, provider)."""
    return db.session.execute(_EXPIRED, {"limit": limit}).all()


def claim_transactional(message_id: int, lease_seconds: float, scopes: list | None = None,
                        route_plan=None) -> Claim:
    """Lease one due transactional message, within its quotas (routed by the plan if given), and commit.

    A pinned message whose account stayed down past the wait is dead-lettered instead, as in claim_batch.
    """
    return _lease(_ONE_MESSAGE, {"mid": message_id}, 1, lease_seconds, scopes or [], route_plan)


def due_transactional(grace_seconds: float, limit: int = 1000) -> list[int]:
    """Transactional messages due for a while with nobody sending them (their wake-up was lost)."""
    ids = list(db.session.execute(_DUE_TRANSACTIONAL, {"grace": grace_seconds, "limit": limit}).scalars())
    db.session.rollback()
    return ids
