"""Send tasks in flight per broadcast and per service: the producer's cap on broker queue depth.

Sorted sets of slot ids scored by deadline, one per broadcast and one per service
(a slot id starts with its service id). A slot whose task died without finishing
simply expires, so a crash never leaks capacity for long.
"""
from __future__ import annotations

import time
import uuid

from flask import current_app

from app.redis_store import get_redis


def _key(broadcast_id) -> str:
    """Redis key of a broadcast's in-flight slots."""
    return f"herald:broadcast:{broadcast_id}:inflight"


def _service_key(service_id) -> str:
    """Redis key of all in-flight slots of one service's broadcasts."""
    return f"herald:service:{service_id}:inflight"


def _keys(broadcast_id, slot: str) -> tuple[str, str]:
    """Both sets a slot lives in."""
    return _key(broadcast_id), _service_key(slot.split(":", 1)[0])


def counts(broadcast_id, service_id) -> tuple[int, int]:
    """Live slots of the broadcast and of its service, after dropping expired ones."""
    now = time.time()
    pipe = get_redis().pipeline()
    for key in (_key(broadcast_id), _service_key(service_id)):
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
    result = pipe.execute()
    return result[1], result[3]


def open_slots(broadcast_id, service_id, how_many: int, ttl_seconds: float) -> list[str]:
    """Register new slots that expire after ttl_seconds unless renewed."""
    if how_many <= 0:
        return []
    slots = [f"{service_id}:{uuid.uuid4().hex}" for _ in range(how_many)]
    deadline = time.time() + ttl_seconds
    pipe = get_redis().pipeline()
    for key in (_key(broadcast_id), _service_key(service_id)):
        pipe.zadd(key, {slot: deadline for slot in slots})
        pipe.expire(key, int(ttl_seconds) + 3600)
    pipe.execute()
    return slots


def renew(broadcast_id, slot: str, ttl_seconds: float) -> None:
    """Push a running slot's deadline out (a task has started on it)."""
    pipe = get_redis().pipeline()
    for key in _keys(broadcast_id, slot):
        pipe.zadd(key, {slot: time.time() + ttl_seconds}, xx=True)
    pipe.execute()


def close(broadcast_id, slot: str) -> None:
    """Free a slot when its task ends, however it ends."""
    pipe = get_redis().pipeline()
    for key in _keys(broadcast_id, slot):
        pipe.zrem(key, slot)
    pipe.execute()


def queue_depth(queue: str) -> int:
    """Messages waiting in a Celery queue on a Redis broker (0 on another broker: the in-flight caps still bound it)."""
    if current_app.config["CELERY_BROKER_URL"]:
        return 0
    return get_redis().llen(queue)
