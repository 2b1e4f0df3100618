"""Helpers for the rate limiter tests: counting starts per time window."""
from __future__ import annotations

import bisect


def busiest_window(starts: list[float], width: float = 1.0) -> int:
    """Most starts in any half-open window [s, s + width)."""
    ordered = sorted(starts)
    return max(bisect.bisect_left(ordered, s + width) - i for i, s in enumerate(ordered))
