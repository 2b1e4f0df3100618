"""Remembered answers per Idempotency-Key, so a resend gets the first answer back.

Not locked; the gateway's lock guards it.
"""
from __future__ import annotations

from typing import NamedTuple


class Remembered(NamedTuple):
    """A recipient entry as first sent (pre-encoded JSON) and its cost in ten-thousandths."""

    entry_json: str
    cost_units: int


class DedupStore:
    """Idempotency key -> the entry first accepted under it."""

    def __init__(self) -> None:
        """Start empty."""
        self._entries: dict[str, Remembered] = {}

    def clear(self) -> None:
        """Forget every key."""
        self._entries.clear()

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._entries)

    def get(self, key: str) -> Remembered | None:
        """The entry first accepted under `key`, if any."""
        return self._entries.get(key)

    def remember(self, key: str, entry: Remembered) -> None:
        """Keep the first entry for a key; later acceptances (dedup off) do not replace it."""
        self._entries.setdefault(key, entry)
