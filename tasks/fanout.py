"""The producer: one tick hands a broadcast a bounded budget of send tasks."""
from __future__ import annotations

import uuid

from celery import shared_task

from app.redis_store import get_redis
from app.services.control import dispatch

# A tick finishes in milliseconds; the lock only stops two ticks planning at once.
_TICK_LOCK_MS = 5000
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@shared_task(name="tasks.fanout.broadcast_tick")
def broadcast_tick(broadcast_id: str) -> None:
    """Add send tasks for a broadcast up to its budget, or complete it; one tick at a time."""
    from tasks.sending import send_batch

    r = get_redis()
    lock, token = f"herald:broadcast:{broadcast_id}:tick", uuid.uuid4().hex
    if not r.set(lock, token, nx=True, px=_TICK_LOCK_MS):
        return
    try:
        plan = dispatch.plan_tick(broadcast_id)
        for slot in plan.slots:
            send_batch.delay(broadcast_id, slot)
    finally:
        r.eval(_RELEASE, 1, lock, token)
