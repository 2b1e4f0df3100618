"""The status guard: a Redis mirror of each broadcast's status, written compare-and-set by version.

Every transition bumps `broadcasts.status_version` in the same UPDATE that moves the
status; the flag holds "<status>:<version>" and a write only lands if its version is
not older than the stored one, so concurrent transitions publishing out of order still
leave the newest status. A periodic reconcile republishes every live broadcast from
PostgreSQL, repairing a publish that failed or a flag Redis lost.

The flag is read fresh by the call journal's script immediately before every gateway
call (app.services.state.call_journal). `may_send` is the cheap early check a task makes
before claiming, trusting a local copy for HERALD_GUARD_CACHE_SECONDS.
"""
from __future__ import annotations

import logging
import time

import redis
from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.redis_store import get_redis
from app.statuses import FINAL_BROADCAST_STATUSES, BroadcastStatus, sql_list

log = logging.getLogger(__name__)

SENDABLE = frozenset({BroadcastStatus.RUNNING})
# A finished broadcast's flag lingers a day for late tasks, then PostgreSQL answers again.
_FINAL_FLAG_TTL_MS = 24 * 3600 * 1000
_local: dict[str, tuple[str, float]] = {}

_PUBLISH = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, ':(%d+)$'))
  if version and version > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""
_ONE = text("SELECT status, status_version FROM broadcasts WHERE id = :bid")
# Live broadcasts, and those finished recently enough that a late task may still ask.
_LIVE = text(f"""
SELECT id, status, status_version FROM broadcasts
 WHERE status NOT IN {sql_list(BroadcastStatus.COMPLETED, BroadcastStatus.CANCELLED)}
    OR finished_at > now() - interval '1 hour'
""")


def flag_key(broadcast_id) -> str:
    """Redis key holding a broadcast's status and version."""
    return f"herald:broadcast:{broadcast_id}:status"


def _ttl_ms(status: str) -> int:
    """Flags of live broadcasts never expire; finished ones do."""
    return _FINAL_FLAG_TTL_MS if status in FINAL_BROADCAST_STATUSES else 0


def publish(broadcast_id, status: str, version: int, client=None) -> None:
    """Mirror a committed status to Redis unless a newer one is there; errors are logged, never raised."""
    try:
        (client or get_redis()).eval(_PUBLISH, 1, flag_key(broadcast_id), status, int(version), _ttl_ms(status))
    except redis.RedisError as exc:
        # The reconcile repairs the flag from PostgreSQL within seconds.
        log.warning("status flag of %s not published (%s); the reconcile will", broadcast_id, exc)
    _local[str(broadcast_id)] = (status, time.monotonic())


def reconcile() -> int:
    """Republish every live broadcast's status from PostgreSQL; return how many flags were written."""
    rows = db.session.execute(_LIVE).all()
    db.session.rollback()
    pipe = get_redis().pipeline(transaction=False)
    for broadcast_id, status, version in rows:
        pipe.eval(_PUBLISH, 1, flag_key(broadcast_id), status, int(version), _ttl_ms(status))
    return sum(pipe.execute()) if rows else 0


def status_of(flag: str | None) -> str | None:
    """The status part of a flag value."""
    return flag.split(":", 1)[0] if flag else None


def _load(broadcast_id) -> str:
    """Read the flag from Redis, rebuilding it from PostgreSQL if it is gone."""
    status = status_of(get_redis().get(flag_key(broadcast_id)))
    if status is None:
        row = db.session.execute(_ONE, {"bid": broadcast_id}).first()
        db.session.rollback()
        if row is None:
            return "missing"
        publish(broadcast_id, row.status, row.status_version)
        status = row.status
    return status


def refresh(broadcast_id) -> str:
    """Rebuild a lost flag from PostgreSQL now and return the status."""
    _local.pop(str(broadcast_id), None)
    return current_status(broadcast_id, max_age=0)


def current_status(broadcast_id, max_age: float | None = None) -> str:
    """The broadcast's status as of at most `max_age` seconds ago."""
    max_age = current_app.config["HERALD_GUARD_CACHE_SECONDS"] if max_age is None else max_age
    key = str(broadcast_id)
    cached = _local.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[1] < max_age:
        return cached[0]
    status = _load(broadcast_id)
    _local[key] = (status, now)
    return status


def may_send(broadcast_id) -> bool:
    """True while the broadcast is running: the early check before claiming rows."""
    return current_status(broadcast_id) in SENDABLE
