"""A bounded, time-ordered record of every recipient decision, newest overwriting oldest.

Stored as parallel arrays rather than a tuple per event: two million events
then cost tens of megabytes, not hundreds. Not locked; the gateway's lock guards it.
"""
from __future__ import annotations

import time
from array import array
from bisect import bisect_right

OUTCOMES = ("accepted", "replay", "temporary", "permanent", "rate_limited")
ACCEPTED, REPLAY, TEMPORARY, PERMANENT, RATE_LIMITED = range(len(OUTCOMES))

DEFAULT_CAPACITY = 2_000_000

# Strictly increasing times let a caller page with since=<last t seen>.
_TICK = 1e-6


class _Times:
    """A read-only view of event times in logical (oldest-first) order, for bisect."""

    def __init__(self, ring: "EventRing") -> None:
        """View `ring` without copying it."""
        self._ring = ring

    def __len__(self) -> int:
        """How many events the ring holds."""
        return len(self._ring)

    def __getitem__(self, index: int) -> float:
        """Time of the index-th oldest event."""
        return self._ring._times[self._ring._physical(index)]


class EventRing:
    """Events as (time, number, key, outcome code), at most `capacity` of them."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """An empty ring holding at most `capacity` events."""
        self._capacity = capacity
        self._last = 0.0
        self.clear()

    def clear(self) -> None:
        """Forget every event."""
        self._times = array("d")
        self._numbers: list[str] = []
        self._keys: list[str | None] = []
        self._codes = bytearray()
        self._oldest = 0

    def __len__(self) -> int:
        """How many events are held."""
        return len(self._codes)

    def stamp(self) -> float:
        """The current time, nudged so each stamp is later than the one before."""
        now = time.time()
        if now <= self._last:
            now = self._last + _TICK
        self._last = now
        return now

    def add(self, when: float, number: str, key: str | None, code: int) -> None:
        """Record one event, overwriting the oldest when full."""
        if len(self._codes) < self._capacity:
            self._times.append(when)
            self._numbers.append(number)
            self._keys.append(key)
            self._codes.append(code)
            return
        slot = self._oldest
        self._times[slot] = when
        self._numbers[slot] = number
        self._keys[slot] = key
        self._codes[slot] = code
        self._oldest = (slot + 1) % self._capacity

    def _physical(self, index: int) -> int:
        """Array slot of the index-th oldest event."""
        return (self._oldest + index) % len(self._codes)

    def since(self, after: float, limit: int) -> tuple[list[tuple], bool]:
        """Up to `limit` events later than `after`, oldest first, and whether more remain."""
        start = bisect_right(_Times(self), after)
        stop = min(len(self), start + limit)
        picked = []
        for index in range(start, stop):
            slot = self._physical(index)
            picked.append((self._times[slot], self._numbers[slot], self._keys[slot], self._codes[slot]))
        return picked, stop < len(self)
