"""A circuit breaker per provider account, kept in Redis so every worker on every host shares it.

Each gateway request's results are observed once. Requests that failed for the gateway as a
whole (SendError.gateway_fault "down" or "rejected") are counted in a row; any answer about a
message (accepted, or refused for that message) clears the count. Enough of them within the
window open the breaker: `herald:breaker:{account}` holds the reason, every sender stops calling
the account, and its running broadcasts pause with that reason. A beat task probes open accounts:
a probe that gets through closes a `gateway_down` breaker and resumes what it paused; a
`gateway_rejected` breaker waits for an operator, whose resume closes it (half-open: the next
failures open it again).
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.redis_store import get_redis
from app.services.channels.routes import ROUTED
from app.services.state import broadcast_state, call_journal
from app.statuses import BroadcastStatus, PausedReason, sql_literal
from providers.base import GATEWAY_DOWN, GATEWAY_REJECTED, Accepted, RateLimited, SendError, UnknownOutcome

log = logging.getLogger(__name__)

ACTOR = "system:breaker"
DOWN = PausedReason.GATEWAY_DOWN
REJECTED = PausedReason.GATEWAY_REJECTED
REASONS = {GATEWAY_DOWN: DOWN, GATEWAY_REJECTED: REJECTED}
_ACCOUNTS_KEY = "herald:breaker:accounts"
_PROBE_TURN_KEY = "herald:breaker:probing"

# KEYS: fault count, open flag, accounts ever opened. ARGV: window ms, threshold, reason, account.
# Returns 0 (still closed), 1 (this call opened it) or 2 (it was open already).
_COUNT_FAULT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
local n = 1
if first and now - first <= tonumber(ARGV[1]) then
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
else
  redis.call('HSET', KEYS[1], 'first', now, 'n', 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n < tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[3], ARGV[4])
if redis.call('SET', KEYS[2], ARGV[3], 'NX') then return 1 end
return 2
"""
# KEYS: open flag, fault counts. ARGV: the reason expected, the new reason ('' closes).
_REPLACE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', unpack(KEYS)) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""

_RUNNING = text(f"""
SELECT id FROM broadcasts WHERE status = {sql_literal(BroadcastStatus.RUNNING)} AND provider = :account ORDER BY id
""")
# A routed broadcast (provider ROUTED) has no breaker of its own: blocked_carriers resumes it.
_DOWN_PAUSED = text(f"""
SELECT id, provider FROM broadcasts
 WHERE status = {sql_literal(BroadcastStatus.PAUSED)} AND paused_reason = :reason AND provider <> :routed
""")
_PAUSED_ON = text(f"""
SELECT id, paused_reason FROM broadcasts
 WHERE status = {sql_literal(BroadcastStatus.PAUSED)} AND provider = :account AND paused_reason = ANY(:reasons)
 ORDER BY id
""")
_PAUSED_BY_BREAKER = text(f"""
SELECT provider FROM broadcasts
 WHERE id = :bid AND service_id = :sid
   AND status = {sql_literal(BroadcastStatus.PAUSED)} AND paused_reason = ANY(:reasons)
""")

# Per process: the last breaker state read, accounts this process counted a fault for since it
# last cleared the count, and when it last cleared it.
_local: dict[str, tuple[str | None, float]] = {}
_faulted: set[str] = set()
_last_clear: dict[str, float] = {}


def open_key(account: str) -> str:
    """Redis key holding an open breaker's reason; the call journal's script reads the same key."""
    return call_journal.breaker_key(account)


def _fault_keys(account: str) -> list[str]:
    """Redis keys counting an account's faults in a row, one per kind of fault."""
    return [f"herald:breaker:{account}:faults:{kind}" for kind in (GATEWAY_DOWN, GATEWAY_REJECTED)]


def forget_local() -> None:
    """Drop this process's cached breaker states (tests, after Redis was emptied)."""
    _local.clear()
    _faulted.clear()
    _last_clear.clear()


def open_reason(account: str, max_age: float | None = None) -> str | None:
    """Why the account's breaker is open ("gateway_down"/"gateway_rejected"), or None when closed."""
    max_age = current_app.config["HERALD_BREAKER_CACHE_SECONDS"] if max_age is None else max_age
    cached = _local.get(account)
    now = time.monotonic()
    if cached is not None and now - cached[1] < max_age:
        return cached[0]
    reason = get_redis().get(open_key(account))
    _local[account] = (reason, now)
    return reason


def request_fault(results: Iterable[object]) -> str | None:
    """The gateway fault every result of one request shares ("down"/"rejected"), or None."""
    faults = {getattr(result, "gateway_fault", None) for result in results}
    return faults.pop() if len(faults) == 1 else None


def _answered(results: Iterable[object]) -> bool:
    """True when the gateway answered about a message: it works, whatever it said about that one."""
    return any(isinstance(r, Accepted) or (isinstance(r, SendError) and r.gateway_fault is None
                                           and not isinstance(r, (RateLimited, UnknownOutcome)))
               for r in results)


def observe(account: str, results: list) -> str | None:
    """Count one gateway request's results; return the reason if this call opened the breaker.

    Errors are logged, never raised: the caller holds results that must still be recorded.
    """
    try:
        fault = request_fault(results)
        if fault is None:
            if _answered(results):
                _clear_faults(account)
            return None
        return _count_fault(account, fault)
    except (RedisError, SQLAlchemyError):
        log.exception("circuit breaker of %s could not record a request", account)
        return None


def _clear_faults(account: str) -> None:
    """Clear the shared count after a good answer, at most every few tenths of a second per process."""
    now = time.monotonic()
    # One Redis call per answered request would double the send path's Redis traffic; a process
    # that counted a fault itself clears at once, others within HERALD_BREAKER_RESET_SECONDS.
    if account not in _faulted and now - _last_clear.get(account, -1e9) < current_app.config[
            "HERALD_BREAKER_RESET_SECONDS"]:
        return
    _faulted.discard(account)
    _last_clear[account] = now
    get_redis().delete(*_fault_keys(account))


def _count_fault(account: str, fault: str) -> str | None:
    """Add a fault to the account's run; open the breaker (and pause its broadcasts) past the threshold."""
    cfg = current_app.config
    _faulted.add(account)
    threshold = cfg["HERALD_BREAKER_DOWN_FAULTS" if fault == GATEWAY_DOWN else "HERALD_BREAKER_REJECTED_FAULTS"]
    key = _fault_keys(account)[0 if fault == GATEWAY_DOWN else 1]
    reason = REASONS[fault]
    state = get_redis().eval(_COUNT_FAULT, 3, key, open_key(account), _ACCOUNTS_KEY,
                             int(cfg["HERALD_BREAKER_WINDOW_SECONDS"] * 1000), threshold, reason, account)
    if state == 0:
        return None
    # This process stops calling the account at once; others see it within the cache time.
    _local[account] = (reason, time.monotonic())
    if state != 1:
        return None
    log.warning("circuit breaker of %s opened: %s after %d failed requests in a row", account, reason, threshold)
    pause_running(account, reason)
    return reason


def pause_running(account: str, reason: str) -> list:
    """Pause every running broadcast of the account with the breaker's reason; return their ids."""
    running = list(db.session.execute(_RUNNING, {"account": account}).scalars())
    db.session.rollback()
    # The guarded UPDATE lets one caller pause (and audit) each broadcast, however many race.
    return [bid for bid in running
            if broadcast_state.apply(bid, "pause", actor=ACTOR, paused_reason=reason, strict=False)]


def open_accounts() -> dict[str, str]:
    """Every account whose breaker is open now, with its reason."""
    accounts = get_redis().smembers(_ACCOUNTS_KEY)
    reasons = {account: open_reason(account, max_age=0) for account in sorted(accounts)}
    return {account: reason for account, reason in reasons.items() if reason}


def take_probe_turn(seconds: float) -> bool:
    """True for one caller at a time, for at most `seconds`: overlapping beat runs skip probing."""
    # A gateway that hangs must not let probes pile up on the maintenance worker's few slots.
    return bool(get_redis().set(_PROBE_TURN_KEY, "1", nx=True, px=int(seconds * 1000)))


def end_probe_turn() -> None:
    """Let the next beat run probe."""
    get_redis().delete(_PROBE_TURN_KEY)


def note_probe(account: str, error: SendError | None) -> str | None:
    """Act on a probe of an open account; return the breaker's reason afterwards (None: closed)."""
    reason = open_reason(account, max_age=0)
    if reason is None:
        return None
    if error is None and reason == DOWN:
        if _replace(account, DOWN, ""):
            log.warning("circuit breaker of %s closed: the gateway answers again", account)
            return None
    elif error is not None and error.gateway_fault == GATEWAY_REJECTED and reason == DOWN:
        # Back up, but refusing our account: waiting for probes would wait forever.
        _replace(account, DOWN, REJECTED)
    return open_reason(account, max_age=0)


def _replace(account: str, expected: str, new_reason: str) -> bool:
    """Swap the open reason (or close, with '') only if it still is `expected`."""
    done = get_redis().eval(_REPLACE, 3, open_key(account), *_fault_keys(account), expected, new_reason)
    _local.pop(account, None)
    return bool(done)


def resume_recovered() -> list:
    """Resume broadcasts paused gateway_down whose account's breaker is closed; return their ids."""
    paused = db.session.execute(_DOWN_PAUSED, {"reason": DOWN, "routed": ROUTED}).all()
    db.session.rollback()
    closed: dict[str, bool] = {}
    for row in paused:
        if row.provider not in closed:
            closed[row.provider] = open_reason(row.provider, max_age=0) is None
    return [row.id for row in paused if closed[row.provider] and broadcast_state.apply(
        row.id, "resume", actor=ACTOR, reason="gateway answering again", strict=False)]


def pause_while_open() -> list:
    """Pause broadcasts that run on an open account (started or resumed since it opened)."""
    return [bid for account, reason in open_accounts().items() for bid in pause_running(account, reason)]


def close_for_operator(broadcast_id, service_id: int) -> str | None:
    """Before an operator resumes a broadcast the breaker paused, close its account's breaker.

    The fault counts start again from zero, so fresh failures open it again (half-open).
    Returns the account, or None when the breaker did not pause this broadcast.
    """
    account = db.session.execute(_PAUSED_BY_BREAKER, {"bid": broadcast_id, "sid": service_id,
                                                      "reasons": [DOWN, REJECTED]}).scalar()
    db.session.rollback()
    if account is None or account == ROUTED:
        return None
    close(account)
    log.warning("circuit breaker of %s closed by an operator's resume of %s", account, broadcast_id)
    return account


def close(account: str) -> str | None:
    """Close the account's breaker and clear its fault counts (half-open); return the reason it had, if open."""
    r = get_redis()
    reason = r.get(open_key(account))
    r.delete(open_key(account), *_fault_keys(account))
    _local.pop(account, None)
    return reason


def resume_paused_on(account: str, actor: str, why: str) -> list:
    """Resume every broadcast sending through the account that its breaker paused; return their ids."""
    paused = db.session.execute(_PAUSED_ON, {"account": account, "reasons": [DOWN, REJECTED]}).all()
    db.session.rollback()
    return [row.id for row in paused if broadcast_state.apply(row.id, "resume", actor=actor, reason=why, strict=False,
                                                              from_reason=row.paused_reason)]
