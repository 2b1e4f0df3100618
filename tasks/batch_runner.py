"""Running one claimed batch against a gateway from a few threads.

Each thread takes a lane of the batch. Immediately before every gateway call,
after any Retry-After or rate-limit sleep, one Redis script checks the
broadcast's status flag and the account's breaker and journals the call, so a
pause stops new calls at once and a dead worker's reaper knows what was tried.
Nothing a lane hears is dropped: if Redis or anything else fails, the lanes
stop starting calls and the results so far are returned for writing.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from flask import current_app

from app.services import breaker, call_journal, guard
from app.services.pacing import Pacer, segments
from providers.base import OutboundMessage, Provider, RateLimited, SendError, SendResult, UnknownOutcome

log = logging.getLogger(__name__)

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
    # One request per (text, carrier): a carrier route may have its own rate limit. A gateway
    # that takes personalised messages in one request needs only the carrier to agree.
    shared_body = not provider.bulk_bodies_may_differ
    groups: dict[tuple, list[OutboundMessage]] = {}
    for message in messages:
        groups.setdefault((message.body if shared_body else None, message.carrier), []).append(message)
    return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]


def _send_unit(provider: Provider, unit: list[OutboundMessage]) -> list[SendResult]:
    """One gateway request; a request-level failure is every message's result."""
    try:
        if len(unit) == 1:
            return [provider.send(unit[0])]
        return provider.send_bulk(unit)
    except SendError as exc:
        return [exc] * len(unit)
    except Exception as exc:  # noqa: BLE001 - an adapter bug after the call started leaves its fate unknown
        log.exception("adapter %s raised outside its contract", provider.name)
        return [UnknownOutcome("adapter_error", f"{type(exc).__name__}: {exc}")] * len(unit)


class _Lanes:
    """Shared state of one batch run: the results, the stop signal and any gateway hold."""

    def __init__(self, claim_token, broadcast_id: str | None, account: str, deadline: float,
                 pacer: Pacer | None, journal_ttl: float) -> None:
        self.claim_token = claim_token
        self.broadcast_id = broadcast_id
        self.account = account
        self.pacer = pacer if pacer is not None and pacer.active else None
        self.deadline = deadline
        self.journal_ttl = journal_ttl
        self.stopped = threading.Event()
        self.stop_reason: str | None = None
        self.hold_until = 0.0
        self.results: dict[int, SendResult] = {}

    def stop(self, reason: str) -> None:
        """Stop every lane before its next call; the first reason is kept."""
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    def may_call(self, unit: list[OutboundMessage], heard: list) -> bool:
        """Deadline, early guard, Retry-After and rate slot; then the journal entry right before the call."""
        if self.stopped.is_set():
            return False
        if time.monotonic() >= self.deadline:
            self.stop("deadline")
            return False
        try:
            # The cached early look spares booking rate slots for a broadcast that is already paused.
            if self.broadcast_id and not guard.may_send(self.broadcast_id):
                self.stop("status")
                return False
            wait = self.hold_until - time.monotonic()
            if wait > 0:
                self.flush(heard)
                time.sleep(min(wait, _MAX_HOLD_SECONDS))
            if self.pacer is not None and not self.pacer.wait_for_slot(
                    unit[0].carrier, _cost(unit), self.deadline, before_sleep=lambda: self.flush(heard)):
                return False
            return self._enter(unit, heard)
        except redis.RedisError as exc:
            # Without Redis there is no guard and no journal: start nothing more, keep what was heard.
            self.stop(f"redis_unavailable: {exc}")
            return False

    def flush(self, heard: list) -> None:
        """Journal the answers this lane heard since its last call (before it sleeps or stops)."""
        if heard:
            call_journal.note_answers(self.claim_token, heard, self.journal_ttl)
            heard.clear()

    def _enter(self, unit: list[OutboundMessage], heard: list) -> bool:
        """Journal the last answers and this call, checking status and breaker afresh, in one Redis script."""
        if self.stopped.is_set():
            return False
        ids = [m.message_id for m in unit]
        verdict = call_journal.start_calls(self.claim_token, self.broadcast_id, self.account, ids,
                                           self.journal_ttl, heard)
        heard.clear()
        if verdict == "no_flag":
            guard.refresh(self.broadcast_id)
            verdict = call_journal.start_calls(self.claim_token, self.broadcast_id, self.account, ids,
                                               self.journal_ttl)
        if verdict != "ok":
            self.stop(verdict)
            return False
        return True

    def note(self, unit: list[OutboundMessage], results: list[SendResult], heard: list) -> None:
        """Keep results (and queue them for the journal); a 429 holds every lane for its Retry-After."""
        for message, result in zip(unit, results):
            self.results[message.message_id] = result
            heard.append((message.message_id, call_journal.encode_answer(result)))
        breaker.observe(self.account, results)
        limited = [r for r in results if isinstance(r, RateLimited)]
        if limited:
            pause = limited[0].retry_after or 1.0
            self.hold_until = max(self.hold_until, time.monotonic() + pause)
            if self.pacer is not None:
                self.pacer.slow_down(pause)


def _cost(unit: list[OutboundMessage]) -> int:
    """Rate-limit tokens of one request: its SMS segments."""
    return sum(segments(m.body) for m in unit)


def _run_lane(app, lanes: _Lanes, provider: Provider, units: list[list[OutboundMessage]]) -> None:
    """Send units one after another until done, paused, or out of time; never raises."""
    heard: list[tuple[int, str]] = []
    with app.app_context():
        try:
            for unit in units:
                if not lanes.may_call(unit, heard):
                    break
                lanes.note(unit, _send_unit(provider, unit), heard)
            lanes.flush(heard)
        except redis.RedisError as exc:
            lanes.stop(f"redis_unavailable: {exc}")
        except Exception as exc:  # noqa: BLE001 - whatever broke, the results heard so far must be written
            log.exception("send lane stopped")
            lanes.stop(f"lane_error: {type(exc).__name__}")


@dataclass
class BatchRun:
    """Results by message id (messages never attempted are absent) and why the run stopped early."""

    results: dict[int, SendResult]
    stop_reason: str | None


def run_batch(provider: Provider, account: str, messages: list[OutboundMessage], claim_token,
              broadcast_id: str | None, time_budget: float, threads: int, pacer: Pacer | None = None,
              journal_ttl: float = 600.0) -> BatchRun:
    """Send a batch through `account` from up to `threads` lanes, each call journalled under the claim's token."""
    units = plan_units(provider, messages)
    # The breaker is the account's (two accounts of one provider fail apart), as are its pauses and probes.
    lanes = _Lanes(claim_token, broadcast_id, account, time.monotonic() + time_budget, pacer, journal_ttl)
    app = current_app._get_current_object()
    width = max(1, min(threads, len(units)))
    if width == 1:
        _run_lane(app, lanes, provider, units)
    else:
        futures = [_executor(threads).submit(_run_lane, app, lanes, provider, units[i::width])
                   for i in range(width)]
        for future in futures:
            future.result()
    return BatchRun(lanes.results, lanes.stop_reason)
