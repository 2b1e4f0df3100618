"""When a temporarily failed message is tried again."""
from __future__ import annotations

import random


def backoff_seconds(attempts: int, base: float, ceiling: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the gateway asked."""
    window = min(ceiling, base * (2 ** max(0, attempts - 1)))
    delay = random.uniform(base / 2, max(base / 2, window))
    return max(delay, retry_after or 0.0)
