"""Delivery reports posted back after acceptance, one form POST per message, as AT does."""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from urllib.parse import urlencode

from sandbox.poster import FormPoster
from sandbox.recipients import report_outcome

DEFAULT_THREADS = 4
MAX_RETRIES = 5
# Short backoff: the receiver is a local test or demo server, not the internet.
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
# Idle senders wake this often at most; stop() wakes them at once anyway.
IDLE_WAIT_S = 1.0


class _Job:
    """One report on its way: where it goes, what it says, how often it failed."""

    __slots__ = ("url", "body", "attempt", "generation", "headers")

    def __init__(self, url: str, body: str | bytes, generation: int, headers: dict | None = None) -> None:
        """A first attempt of `body` to `url`, tagged with the reset generation."""
        self.url = url
        self.body = body
        self.attempt = 0
        self.generation = generation
        self.headers = headers


def report_form(message_id: str, number: str, network_code: str) -> str | None:
    """The urlencoded report for a message; None when its number's report is scripted lost."""
    outcome = report_outcome(number)
    if outcome is None:
        return None
    fields = {
        "id": message_id,
        "status": outcome.status,
        "phoneNumber": number,
        "networkCode": network_code,
        "retryCount": "0",
    }
    if outcome.failure_reason:
        fields["failureReason"] = outcome.failure_reason
    return urlencode(fields)


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): doubling, capped."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (attempt - 1))


class ReportSender:
    """A due-time heap drained by a few threads, each with its own kept-alive connections."""

    def __init__(self, threads: int = DEFAULT_THREADS, timeout_s: float = 5.0) -> None:
        """Idle until the first schedule(); `timeout_s` bounds each POST's connect and read."""
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._thread_count = threads
        self._threads: list[threading.Thread] = []
        self._stopping = False
        # A reset bumps the generation so reports already in flight are not counted.
        self._generation = 0
        self._inflight = 0
        self.sent = 0
        self.failed = 0
        self._timeout_s = timeout_s

    def schedule(self, url: str, delay_s: float, messages: list[tuple[str, str, str]]) -> None:
        """Queue reports for (message_id, number, network_code) triples, due after `delay_s`."""
        bodies = [report_form(*message) for message in messages]
        bodies = [body for body in bodies if body is not None]
        if not bodies:
            return
        self.schedule_bodies(url, delay_s, [(body, None) for body in bodies])

    def schedule_bodies(self, url: str, delay_s: float, bodies: list[tuple[str | bytes, dict | None]]) -> None:
        """Queue ready-made report bodies, each with its own headers (None: a form), due after `delay_s`."""
        due = time.monotonic() + delay_s
        with self._cond:
            if self._stopping:
                return
            self._start_threads()
            for body, headers in bodies:
                job = _Job(url, body, self._generation, headers)
                heapq.heappush(self._heap, (due, next(self._order), job))
            self._cond.notify()

    def counts(self) -> dict:
        """Reports sent, dropped after retries, and still to go."""
        with self._cond:
            pending = len(self._heap) + self._inflight
            return {"dlr_sent": self.sent, "dlr_failed": self.failed, "dlr_pending": pending}

    def reset(self) -> None:
        """Drop every pending report and zero the counts."""
        with self._cond:
            self._heap.clear()
            self._generation += 1
            self._inflight = 0
            self.sent = 0
            self.failed = 0

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the senders, waiting at most `timeout_s` in all for POSTs in flight."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_threads(self) -> None:
        """Start the sender threads on first use (after gunicorn's fork, never before)."""
        if self._threads:
            return
        for index in range(self._thread_count):
            thread = threading.Thread(target=self._run, name=f"sandbox-dlr-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        """Sender loop: take a due report, post it, settle the outcome; until stopped."""
        poster = FormPoster(self._timeout_s)
        try:
            while True:
                job = self._next_due()
                if job is None:
                    return
                self._settle(job, poster.post(job.url, job.body, job.headers))
        finally:
            poster.close()

    def _next_due(self) -> _Job | None:
        """Block until a report is due and claim it; None once stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    job = heapq.heappop(self._heap)[2]
                    self._inflight += 1
                    if self._heap and self._heap[0][0] <= now:
                        # More are due: hand them to another sender too.
                        self._cond.notify()
                    return job
                wait = self._heap[0][0] - now if self._heap else IDLE_WAIT_S
                self._cond.wait(min(wait, IDLE_WAIT_S))
            return None

    def _settle(self, job: _Job, delivered: bool) -> None:
        """Count a finished POST, or queue a retry with backoff, or drop it after MAX_RETRIES."""
        with self._cond:
            if job.generation != self._generation:
                return
            self._inflight -= 1
            if delivered:
                self.sent += 1
            elif job.attempt >= MAX_RETRIES:
                self.failed += 1
            else:
                job.attempt += 1
                due = time.monotonic() + backoff(job.attempt)
                heapq.heappush(self._heap, (due, next(self._order), job))
                self._cond.notify()
