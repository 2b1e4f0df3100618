"""Running one claimed batch against a gateway from a few threads.

Each thread takes a contiguous lane of the batch and checks the status guard
before every call, so a pause stops new calls within the guard's cache time.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from app.services import breaker, guard
from app.services.pacing import Pacer, segments
from providers.base import OutboundMessage, Provider, RateLimited, SendError, SendResult

_pool: dict = {"pid": None, "executor": None}
# Longest a lane waits on a gateway's Retry-After before giving the rest back.
_MAX_HOLD_SECONDS = 5.0


def _executor(threads: int) -> ThreadPoolExecutor:
    """This process's thread pool (rebuilt after a fork)."""
    if _pool["pid"] != os.getpid():
        _pool.update(pid=os.getpid(), executor=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send"))
    return _pool["executor"]


def plan_units(provider: Provider, messages: list[OutboundMessage]) -> list[list[OutboundMessage]]:
    """Group messages into requests: identical texts share bulk requests where the gateway allows."""
    size = provider.max_bulk_recipients
    if size <= 1:
        return [[m] for m in messages]
    # One request per (text, carrier): a carrier route may have its own rate limit.
    groups: dict[tuple, list[OutboundMessage]] = {}
    for message in messages:
        groups.setdefault((message.body, message.carrier), []).append(message)
    return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]


def _send_unit(provider: Provider, unit: list[OutboundMessage]) -> list[SendResult]:
    """One gateway request; a request-level failure is every message's result."""
    try:
        if len(unit) == 1:
            return [provider.send(unit[0])]
        return provider.send_bulk(unit)
    except SendError as exc:
        return [exc] * len(unit)


class _Lanes:
    """Shared state of one batch run: the results, the stop signal and any gateway hold."""

    def __init__(self, broadcast_id: str | None, deadline: float, pacer: Pacer | None,
                 account: str | None = None) -> None:
        self.broadcast_id = broadcast_id
        self.account = account
        self.pacer = pacer if pacer is not None and pacer.active else None
        self.deadline = deadline
        self.stopped = threading.Event()
        self.hold_until = 0.0
        self.results: dict[int, SendResult] = {}

    def may_call(self, unit: list[OutboundMessage]) -> bool:
        """Guard, deadline, Retry-After and the rate limit, checked before each gateway call."""
        if self.stopped.is_set():
            return False
        if time.monotonic() >= self.deadline or (self.broadcast_id and not guard.may_send(self.broadcast_id)):
            self.stopped.set()
            return False
        if self.account and breaker.open_reason(self.account):
            self.stopped.set()
            return False
        wait = self.hold_until - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, _MAX_HOLD_SECONDS))
        if self.pacer is not None:
            cost = sum(segments(m.body) for m in unit)
            if not self.pacer.wait_for_slot(unit[0].carrier, cost, self.deadline):
                return False
            # The slot may come after a pause: look at the guard once more before calling.
            if self.broadcast_id and not guard.may_send(self.broadcast_id):
                self.stopped.set()
                return False
        return not self.stopped.is_set()

    def note(self, unit: list[OutboundMessage], results: list[SendResult]) -> None:
        """Keep results; a 429 holds every lane for the gateway's Retry-After."""
        for message, result in zip(unit, results):
            self.results[message.message_id] = result
        if self.account:
            breaker.observe(self.account, results)
        limited = [r for r in results if isinstance(r, RateLimited)]
        if limited:
            pause = limited[0].retry_after or 1.0
            self.hold_until = max(self.hold_until, time.monotonic() + pause)
            if self.pacer is not None:
                self.pacer.slow_down(pause)


def _run_lane(app, lanes: _Lanes, provider: Provider, units: list[list[OutboundMessage]]) -> None:
    """Send units one after another until done, paused, or out of time."""
    with app.app_context():
        for unit in units:
            if not lanes.may_call(unit):
                return
            lanes.note(unit, _send_unit(provider, unit))


def run_batch(provider: Provider, messages: list[OutboundMessage], broadcast_id: str | None, time_budget: float,
              threads: int, pacer: Pacer | None = None) -> dict[int, SendResult]:
    """Send a batch; return results by message id (messages not attempted are absent)."""
    units = plan_units(provider, messages)
    lanes = _Lanes(broadcast_id, time.monotonic() + time_budget, pacer, provider.name)
    app = current_app._get_current_object()
    width = max(1, min(threads, len(units)))
    if width == 1:
        _run_lane(app, lanes, provider, units)
        return lanes.results
    futures = [_executor(threads).submit(_run_lane, app, lanes, provider, units[i::width]) for i in range(width)]
    for future in futures:
        future.result()
    return lanes.results
