"""Counts of what the sandbox accepted and refused: the evidence for "nothing twice, nothing lost".

Not locked; the gateway's lock guards it.
"""
from __future__ import annotations

COUNTERS = (
    "accepted",
    "requests",
    "replays",
    "rate_limited",
    "temporary_failures",
    "permanent_failures",
    "http_errors",
    # Requests that arrived while a Retry-After the gateway had given was still running, later
    # than RETRY_AFTER_GRACE_S after it was given (a client that heard it should have waited)...
    "inside_retry_after",
    # ...and those within that grace: calls already on the wire when the 429 was answered.
    "on_the_wire_at_retry_after",
)


class Ledger:
    """Totals plus per-recipient, per-key and per-second acceptance counts."""

    def __init__(self) -> None:
        """Start with every count at zero."""
        self.clear()

    def clear(self) -> None:
        """Zero every count."""
        for name in COUNTERS:
            setattr(self, name, 0)
        self.by_recipient: dict[str, int] = {}
        self.by_key: dict[str, int] = {}
        # Kept as they happen so a million-recipient ledger need not be scanned.
        self.duplicate_recipients: list[str] = []
        self.per_second: dict[int, int] = {}

    def accept(self, when: float, number: str, key: str | None) -> None:
        """Count one acceptance of `number` (under `key`, if any) at time `when`."""
        self.accepted += 1
        times = self.by_recipient.get(number, 0) + 1
        self.by_recipient[number] = times
        if times == 2:
            self.duplicate_recipients.append(number)
        if key is not None:
            self.by_key[key] = self.by_key.get(key, 0) + 1
        second = int(when)
        self.per_second[second] = self.per_second.get(second, 0) + 1

    def snapshot(self, detail: bool) -> dict:
        """A copy of the counts, safe to serialise after the lock is released."""
        data = {name: getattr(self, name) for name in COUNTERS}
        data["duplicate_recipients"] = list(self.duplicate_recipients)
        data["accepted_per_second"] = {str(s): n for s, n in self.per_second.items()}
        if detail:
            data["by_recipient"] = dict(self.by_recipient)
            data["by_key"] = dict(self.by_key)
        return data
