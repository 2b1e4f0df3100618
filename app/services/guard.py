"""The status guard: a cheap Redis mirror of each broadcast's status.

Workers ask it before every gateway call. A local copy is trusted for
HERALD_GUARD_CACHE_SECONDS, so a pause is seen within that time without a Redis
round trip per message. If Redis lost the flag, PostgreSQL is asked again.
"""
from __future__ import annotations

import time

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Broadcast
from app.redis_store import get_redis

SENDABLE = frozenset({"running"})
_FLAG_TTL_SECONDS = 7 * 24 * 3600
_local: dict[str, tuple[str, float]] = {}


def flag_key(broadcast_id) -> str:
    """Redis key holding a broadcast's status."""
    return f"herald:broadcast:{broadcast_id}:status"


def publish(broadcast_id, status: str) -> None:
    """Mirror a committed status to Redis and to this process's copy."""
    get_redis().set(flag_key(broadcast_id), status, ex=_FLAG_TTL_SECONDS)
    _local[str(broadcast_id)] = (status, time.monotonic())


def _load(broadcast_id) -> str:
    """Read the flag from Redis, rebuilding it from PostgreSQL if it is gone."""
    status = get_redis().get(flag_key(broadcast_id))
    if status is None:
        status = db.session.execute(select(Broadcast.status).where(Broadcast.id == broadcast_id)).scalar()
        db.session.rollback()
        status = status or "missing"
        get_redis().set(flag_key(broadcast_id), status, ex=_FLAG_TTL_SECONDS)
    return status


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
    """True while the broadcast is running; checked before every gateway call."""
    return current_status(broadcast_id) in SENDABLE
