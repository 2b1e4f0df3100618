"""A thread-safe token bucket: one token per recipient, one second of burst."""
from __future__ import annotations

import threading
import time


class TokenBucket:
    """Refills continuously at `rate` tokens/s up to `rate` tokens; rate 0 means unlimited."""

    def __init__(self, rate: float = 0.0, clock=time.monotonic) -> None:
        """A full bucket at `rate`; `clock` is injectable for tests."""
        self._lock = threading.Lock()
        self._clock = clock
        self._rate = 0.0
        self._tokens = 0.0
        self._stamp = 0.0
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        """Tokens per second (and the bucket's capacity)."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the rate and start from a full bucket, as a freshly configured limit would."""
        with self._lock:
            self._rate = float(rate)
            self._tokens = self._rate
            self._stamp = self._clock()

    def take(self, count: int) -> float:
        """Take `count` tokens; return 0.0 on success, else seconds until they would be there."""
        if self._rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            rate = self._rate
            if rate <= 0:
                return 0.0
            self._tokens = min(rate, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= count:
                self._tokens -= count
                return 0.0
            return (count - self._tokens) / rate
