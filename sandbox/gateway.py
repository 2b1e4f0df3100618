"""The sandbox's state and the per-recipient rules of a send, applied under one short lock."""
from __future__ import annotations

import itertools
import random
import secrets
import threading
import time
from functools import lru_cache
from typing import Callable, NamedTuple

from sandbox import events as ev
from sandbox import recipients, wire
from sandbox.carriers import carrier_for, format_cost
from sandbox.config import Settings
from sandbox.dedup import DedupStore, Remembered
from sandbox.ledger import Ledger
from sandbox.ratelimit import TokenBucket
from providers.parts import count_segments
from sandbox.reports import ReportSender

# After a 429, how long a request may still arrive without counting against the client: it may have
# been written before the answer could be read (the answer's way back, the client's bookkeeping).
RETRY_AFTER_GRACE_S = 0.1

# Bulk sends repeat one body many times; the one counter Herald bills with, cached per body.
_count_parts = lru_cache(maxsize=4096)(count_segments)


class Sent(NamedTuple):
    """What a send request produced: one encoded entry per recipient, plus totals."""

    entries: list[str]
    sent: int
    cost_units: int


class _Plan(NamedTuple):
    """A recipient's fate as far as it can be decided without the lock."""

    number: str
    key: str | None
    refused: str | None  # encoded entry when refused for good, else None
    entry: str
    message_id: str
    network_code: str
    cost_units: int
    draw: float  # compared with temp_failure_rate


class Gateway:
    """Ledger, dedup store, events, rate bucket and report sender, kept consistent together."""

    def __init__(self, settings: Settings) -> None:
        """Empty state shaped by `settings`, which stay live (shared, mutable)."""
        self.settings = settings
        self._lock = threading.Lock()
        self.ledger = Ledger()
        self.dedup = DedupStore()
        self.events = ev.EventRing()
        self.bucket = TokenBucket(settings.rate_limit_per_s)
        self.reports = ReportSender()
        self._rng = random.Random(settings.seed)
        # A per-process prefix plus a counter: unique ids without a syscall each.
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count(1)
        self.in_flight = 0
        # When the last Retry-After was given, and until when it runs (monotonic seconds).
        self._retry_after_given = self._retry_after_until = 0.0
        # Set by a server that can simulate an outage: takes the seconds to stay down.
        self.outage: Callable[[float], None] | None = None
        # Set by the SMPP server when it runs: its bind/window counters (snapshot(), clear()).
        self.smpp = None
        # Set by the SMTP server when it runs: its counters and parsed messages (snapshot(), clear()).
        self.smtp = None

    def record(self, number: str, code: int) -> None:
        """Count one SMPP recipient decision in the shared ledger and event log (accepted counts once)."""
        with self._lock:
            when = self.events.stamp()
            if code == ev.ACCEPTED:
                self.ledger.accept(when, number, None)
            elif code == ev.TEMPORARY:
                self.ledger.temporary_failures += 1
            elif code == ev.PERMANENT:
                self.ledger.permanent_failures += 1
            elif code == ev.RATE_LIMITED:
                self.ledger.rate_limited += 1
            self.events.add(when, number, None, code)

    def note_request(self) -> None:
        """Count a send request, whatever becomes of it."""
        with self._lock:
            self.ledger.requests += 1

    def hold_answer(self, delta: int) -> None:
        """Count send answers held back by latency: the calls a client has in flight right now."""
        with self._lock:
            self.in_flight += delta

    def admit(self, numbers: list[str], keys: list[str | None]) -> tuple[str, float] | None:
        """Whole-request refusals: ('http_error', 0) or ('rate_limited', wait_s); None to go on.

        A request that arrives inside a Retry-After given earlier is counted (not refused for it).
        """
        self._count_inside_retry_after()
        if self.settings.http_error_rate and self._rng.random() < self.settings.http_error_rate:
            with self._lock:
                self.ledger.http_errors += 1
            return ("http_error", 0.0)
        wait_s = 0.0
        if self.settings.rate_limited_rate and self._rng.random() < self.settings.rate_limited_rate:
            wait_s = self.settings.retry_after_s or 1.0
        wait_s = wait_s or self.bucket.take(len(numbers))
        if not wait_s:
            return None
        with self._lock:
            self._give_retry_after(self.settings.retry_after_s or wait_s)
            self.ledger.rate_limited += 1
            for number, key in zip(numbers, keys):
                self.events.add(self.events.stamp(), number, key, ev.RATE_LIMITED)
        return ("rate_limited", wait_s)

    def _give_retry_after(self, seconds: float) -> None:
        """Open a Retry-After window unless one runs (lock held)."""
        now = time.monotonic()
        if now >= self._retry_after_until:
            self._retry_after_given, self._retry_after_until = now, now + seconds

    def _count_inside_retry_after(self) -> None:
        """Count a request that arrives while a Retry-After runs, past the grace or within it."""
        with self._lock:
            now = time.monotonic()
            if now >= self._retry_after_until:
                return
            if now - self._retry_after_given > RETRY_AFTER_GRACE_S:
                self.ledger.inside_retry_after += 1
            else:
                self.ledger.on_the_wire_at_retry_after += 1

    def submit(self, numbers: list[str], keys: list[str | None], message: str,
               on_accepted: Callable[[list[tuple[str, str, str]]], None] | None = None) -> Sent:
        """Apply the recipient rules in order, record the outcomes, queue delivery reports.

        `on_accepted` takes the fresh acceptances (message id, number, network code) instead of
        AT's report sender: another dialect posts its own reports to the URL its request named.
        """
        parts = _count_parts(message)
        plans = [self._plan(number, key, parts) for number, key in zip(numbers, keys)]
        honour = self.settings.honour_idempotency
        temp_rate = self.settings.temp_failure_rate
        entries, to_report, sent, cost = [], [], 0, 0
        with self._lock:
            for plan in plans:
                entry, units, accepted = self._decide(plan, honour, temp_rate)
                entries.append(entry)
                if units is not None:
                    sent += 1
                    cost += units
                if accepted:
                    to_report.append((plan.message_id, plan.number, plan.network_code))
        if on_accepted is None:
            self._queue_reports(to_report)
        elif to_report:
            on_accepted(to_report)
        return Sent(entries, sent, cost)

    def _plan(self, number: str, key: str | None, parts: int) -> _Plan:
        """Everything about one recipient that needs no shared state."""
        if not recipients.is_plausible(number):
            return _Plan(number, key, wire.failed_entry(number, wire.INVALID_NUMBER), "", "", "", 0, 1.0)
        if recipients.is_blacklisted(number):
            return _Plan(number, key, wire.failed_entry(number, wire.BLACKLISTED), "", "", "", 0, 1.0)
        carrier = carrier_for(number)
        units = parts * carrier.price_units
        message_id = f"ATXid_{self._id_prefix}{next(self._ids):016x}"
        entry = wire.accepted_entry(number, format_cost(self.settings.currency, units), message_id, parts)
        return _Plan(number, key, None, entry, message_id, carrier.network_code, units, self._rng.random())

    def _decide(self, plan: _Plan, honour: bool, temp_rate: float) -> tuple[str, int | None, bool]:
        """Rules 1-5 for one recipient, lock held: (entry, cost if counted as sent, newly accepted)."""
        when = self.events.stamp()
        if plan.refused is not None:
            self.ledger.permanent_failures += 1
            self.events.add(when, plan.number, plan.key, ev.PERMANENT)
            return plan.refused, None, False
        if honour and plan.key is not None:
            earlier = self.dedup.get(plan.key)
            if earlier is not None:
                self.ledger.replays += 1
                self.events.add(when, plan.number, plan.key, ev.REPLAY)
                return earlier.entry_json, earlier.cost_units, False
        if plan.draw < temp_rate:
            self.ledger.temporary_failures += 1
            self.events.add(when, plan.number, plan.key, ev.TEMPORARY)
            return wire.failed_entry(plan.number, wire.TEMPORARY_FAILURE), None, False
        self.ledger.accept(when, plan.number, plan.key)
        self.events.add(when, plan.number, plan.key, ev.ACCEPTED)
        if plan.key is not None:
            self.dedup.remember(plan.key, Remembered(plan.entry, plan.cost_units))
        return plan.entry, plan.cost_units, True

    def _queue_reports(self, to_report: list[tuple[str, str, str]]) -> None:
        """Hand fresh acceptances to the report sender when reports are switched on."""
        url = self.settings.dlr_url
        if url and to_report:
            self.reports.schedule(url, self.settings.dlr_delay_ms / 1000.0, to_report)

    def format_total(self, cost_units: int) -> str:
        """A total cost in AT's money format and this sandbox's currency."""
        return format_cost(self.settings.currency, cost_units)

    def ledger_snapshot(self, detail: bool) -> dict:
        """The ledger plus report counts, copied under the lock."""
        with self._lock:
            data = self.ledger.snapshot(detail)
            data["in_flight"] = self.in_flight
        data.update(self.reports.counts())
        if self.smpp is not None:
            data["smpp"] = self.smpp.snapshot()
        if self.smtp is not None:
            data["smtp"] = self.smtp.snapshot()
        return data

    def events_since(self, after: float, limit: int) -> tuple[list[tuple], bool]:
        """Events later than `after`, oldest first, at most `limit`; and whether more remain."""
        with self._lock:
            return self.events.since(after, limit)

    def reset(self) -> None:
        """Forget everything recorded; the configuration stays as it is."""
        with self._lock:
            self.ledger.clear()
            self._retry_after_given = self._retry_after_until = 0.0
            self.dedup.clear()
            self.events.clear()
        self.reports.reset()
        if self.smpp is not None:
            self.smpp.clear()
        if self.smtp is not None:
            self.smtp.clear()
        self.bucket.set_rate(self.settings.rate_limit_per_s)
        if self.settings.seed is not None:
            self._rng.seed(self.settings.seed)
