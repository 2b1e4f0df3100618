"""Group commit for delivery reports: concurrent requests' reports stored by one INSERT and one COMMIT.

Each webhook request hands its report to the process's committer and waits; a single
flusher thread takes everything waiting, writes it in one statement, commits, and only
then releases the requests, so a report answered 200 is in PostgreSQL. Nothing waits on
purpose: reports that arrive while one commit is in flight form the next batch, so the
batch grows with the load and a lone report costs one ordinary commit. Waking the applier
(a Redis round trip and a Celery message) is left to a second thread, so the next batch never
waits for it; wake-ups asked for while one is under way become one.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

from app.extensions import db
from app.services.reports import delivery_reports
from providers.base import DeliveryReport

log = logging.getLogger(__name__)

# Most reports one INSERT carries; more wait for the next one.
MAX_BATCH = 2000


class StoreFailed(Exception):
    """The report was not committed (database error or timeout): the gateway should retry it."""


class _Pending:
    """One request's report and the answer it waits for (an event, or a callback for an event loop)."""

    __slots__ = ("provider", "report", "done", "created", "error", "on_done")

    def __init__(self, provider: str, report: DeliveryReport,
                 on_done: Callable[[bool, Exception | None], None] | None = None) -> None:
        """A report not yet written."""
        self.provider, self.report = provider, report
        self.done = threading.Event()
        self.created = False
        self.error: Exception | None = None
        self.on_done = on_done

    def settle(self, created: bool, error: Exception | None = None) -> None:
        """Record the outcome and release whoever waits for it."""
        self.created, self.error = created, error
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done(created, error)
            except Exception:  # noqa: BLE001 - a gone listener must not stop the flusher
                log.exception("a delivery report's listener failed")


class ReportCommitter:
    """One per process: a queue of waiting reports and the thread that commits them in batches."""

    def __init__(self, app, on_stored: Callable[[], None]) -> None:
        """Idle until the first report; `on_stored` runs after a commit that stored something new."""
        self._app = app
        self._on_stored = on_stored
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._wake_needed = threading.Event()
        self._waker: threading.Thread | None = None

    def store(self, provider: str, report: DeliveryReport, timeout_s: float = 10.0) -> bool:
        """Block until the report is committed; True if it was new. Raises StoreFailed."""
        pending = self._enqueue(_Pending(provider, report))
        if not pending.done.wait(timeout_s):
            raise StoreFailed("timed out waiting for the report to be committed")
        if pending.error is not None:
            raise StoreFailed(str(pending.error)) from pending.error
        return pending.created

    def submit(self, provider: str, report: DeliveryReport,
               on_done: Callable[[bool, Exception | None], None]) -> None:
        """Queue a report without waiting; `on_done(created, error)` runs on the flusher thread once
        it is committed (error None) or has failed."""
        self._enqueue(_Pending(provider, report, on_done))

    def _enqueue(self, pending: _Pending) -> _Pending:
        """Hand a report to the flusher."""
        with self._ready:
            self._start()
            self._queue.append(pending)
            self._ready.notify()
        return pending

    def _start(self) -> None:
        """Start the flusher on first use, in the process that serves (after gunicorn's fork)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="report-committer", daemon=True)
            self._thread.start()
        if self._waker is None or not self._waker.is_alive():
            self._waker = threading.Thread(target=self._run_waker, name="report-waker", daemon=True)
            self._waker.start()

    def _run(self) -> None:
        """Flusher loop: take every waiting report, write them together, release their requests."""
        with self._app.app_context():
            while True:
                batch = self._take()
                self._flush(batch)

    def _take(self) -> list[_Pending]:
        """Wait for at least one report; return all waiting, up to MAX_BATCH."""
        with self._ready:
            while not self._queue:
                self._ready.wait()
            return [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]

    def _flush(self, batch: list[_Pending]) -> None:
        """One INSERT and COMMIT for the batch; every request learns its outcome, errors included."""
        try:
            created = delivery_reports.store_mixed([(p.provider, p.report) for p in batch])
        except Exception as exc:  # noqa: BLE001 - any failure must reach the waiting requests, never kill the loop
            log.exception("storing %d delivery reports failed", len(batch))
            self._discard_transaction()
            for pending in batch:
                pending.settle(False, exc)
            return
        for pending, is_new in zip(batch, created):
            pending.settle(is_new)
        if any(created):
            self._wake()

    @staticmethod
    def _discard_transaction() -> None:
        """Roll back after a failed flush; a dead connection is replaced by the pool on the next one."""
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the next flush starts a fresh transaction either way
            log.exception("rollback after a failed flush failed")

    def _wake(self) -> None:
        """Ask the waker thread to wake the applier (the reports are committed already)."""
        self._wake_needed.set()

    def _run_waker(self) -> None:
        """Waker loop: one applier wake-up for every burst of commits; a failure is only logged."""
        with self._app.app_context():
            while True:
                self._wake_needed.wait()
                self._wake_needed.clear()
                try:
                    self._on_stored()
                except Exception:  # noqa: BLE001 - beat's applier run picks the reports up anyway
                    log.exception("waking the delivery-report applier failed")
