"""Recent send rate per broadcast, kept as per-second counters in Redis."""
from __future__ import annotations

import time

from app.redis_store import get_redis

_BUCKET_TTL_SECONDS = 300
# The dashboard's chart: the last five minutes (all the counters keep) in 5-second steps.
HISTORY_SECONDS = _BUCKET_TTL_SECONDS
HISTORY_STEP_SECONDS = 5


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


def rate_history(broadcast_id, seconds: int = HISTORY_SECONDS, step: int = HISTORY_STEP_SECONDS) -> list[dict]:
    """Mean send rate per `step` seconds over the last `seconds`, oldest first, from one MGET.

    Each point is {"at": unix time the step ends, "rate": msg/s}; the step in
    progress is left out, so the last point never reads low for being partial.
    """
    end = int(time.time()) // step * step
    first = end - seconds
    values = get_redis().mget([_key(broadcast_id, second) for second in range(first, end)])
    counts = [int(v) if v else 0 for v in values]
    return [{"at": first + i + step, "rate": round(sum(counts[i:i + step]) / step, 1)}
            for i in range(0, seconds, step)]
