"""Recent send rate per broadcast, kept as per-second counters in Redis."""
from __future__ import annotations

import time

from app.redis_store import get_redis

_BUCKET_TTL_SECONDS = 300


def _key(broadcast_id, second: int) -> str:
    """Counter of messages accepted by the gateway in one wall-clock second."""
    return f"herald:broadcast:{broadcast_id}:sent:{second}"


def note_sent(broadcast_id, count: int) -> None:
    """Add a batch's accepted messages to the current second."""
    if count <= 0:
        return
    key = _key(broadcast_id, int(time.time()))
    pipe = get_redis().pipeline()
    pipe.incrby(key, count)
    pipe.expire(key, _BUCKET_TTL_SECONDS)
    pipe.execute()


def recent_rate(broadcast_id, window_seconds: int = 10) -> float:
    """Messages per second over the last full `window_seconds` seconds."""
    now = int(time.time())
    keys = [_key(broadcast_id, second) for second in range(now - window_seconds, now)]
    return sum(int(v) for v in get_redis().mget(keys) if v) / window_seconds
