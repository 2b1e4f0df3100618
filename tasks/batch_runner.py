"""Running one claimed batch against a gateway from a few threads.

Each thread takes a lane of the batch. Immediately before every gateway call,
after any rate-limit sleep, one Redis script checks the broadcast's status
flag, the account's breaker and Retry-After hold, the opt-outs received since
the claim and whether the reaper has fenced the claim, and journals the call,
so a pause, a STOP or a 429 stops new calls at once (on every lane of every
worker) and a dead worker's reaper knows what was tried.
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

from app.services.audience import optouts
from app.services.sending import breaker
from app.services.state import call_journal, guard
from app.services.state.message_state import OPTED_OUT_CODE
from app.services.sending.pacing import Pacer, units
from providers.base import OutboundMessage, Provider, RateLimited, SendError, SendResult, UnknownOutcome, Withheld

log = logging.getLogger(__name__)

_pool: dict = {"pid": None, "executor": None}
# How long a 429 without Retry-After holds the account.
_DEFAULT_RETRY_AFTER = 1.0


def _executor(threads: int) -> ThreadPoolExecutor:
    """This process's thread pool (rebuilt after a fork)."""
    if _pool["pid"] != os.getpid():
        _pool.update(pid=os.getpid(), executor=ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send"))
    return _pool["executor"]


def plan_units(provider: Provider, messages: list[OutboundMessage]) -> list[list[OutboundMessage]]:
    """Group messages into journalled calls: identical texts share bulk requests where the gateway allows."""
    size = provider.journal_unit
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

    def __init__(self, claim_token, broadcast_id: str | None, account: str, channel: str, deadline: float,
                 pacer: Pacer | None, journal_ttl: float, optout_key: str | None = None,
                 optout_members: dict[int, str] | None = None) -> None:
        self.claim_token = claim_token
        self.channel = channel
        self.optout_key = optout_key
        self.optout_members = optout_members or {}
        self.broadcast_id = broadcast_id
        self.account = account
        self.pacer = pacer if pacer is not None and pacer.active else None
        self.deadline = deadline
        self.journal_ttl = journal_ttl
        self.stopped = threading.Event()
        self.stop_reason: str | None = None
        self.results: dict[int, SendResult] = {}

    def stop(self, reason: str) -> None:
        """Stop every lane before its next call; the first reason is kept."""
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    def may_call(self, unit: list[OutboundMessage], heard: list) -> list[OutboundMessage] | None:
        """Deadline, early guard and rate slot; then the journal entry right before the call.

        Returns what may be sent now (the unit less anyone who opted out meanwhile; possibly
        empty), or None when this lane must stop.
        """
        if self.stopped.is_set():
            return None
        if time.monotonic() >= self.deadline:
            self.stop("deadline")
            return None
        try:
            # The cached early look spares booking rate slots for a broadcast that is already paused.
            if self.broadcast_id and not guard.may_send(self.broadcast_id):
                self.stop("status")
                return None
            if self.pacer is not None and not self.pacer.wait_for_slot(
                    unit[0].carrier, _cost(unit, self.channel), self.deadline, before_sleep=lambda: self.flush(heard)):
                return None
            return self._enter(unit, heard)
        except redis.RedisError as exc:
            # Without Redis there is no guard and no journal: start nothing more, keep what was heard.
            self.stop(f"redis_unavailable: {exc}")
            return None

    def flush(self, heard: list) -> None:
        """Journal the answers this lane heard since its last call (before it sleeps or stops)."""
        if heard:
            call_journal.note_answers(self.claim_token, heard, self.journal_ttl)
            heard.clear()

    def _enter(self, unit: list[OutboundMessage], heard: list) -> list[OutboundMessage] | None:
        """Journal the last answers and this call, checking status, breaker and opt-outs afresh, in one script.

        A recipient who opted out since the claim is withheld (never sent, no attempt spent; the
        next claim closes the row as opted out) and the rest of the unit goes ahead. While the
        account is held by a gateway's Retry-After the lane waits it out, or stops if its time
        would run out first.
        """
        while unit:
            if self.stopped.is_set():
                return None
            verdict = self._start(unit, heard)
            heard.clear()
            if verdict == "no_flag":
                guard.refresh(self.broadcast_id)
                verdict = self._start(unit, [])
            if verdict == "ok":
                return unit
            if verdict.startswith("hold:"):
                if not self._wait_hold(int(verdict[5:]) / 1000.0):
                    return None
                continue
            if not verdict.startswith("optout:"):
                self.stop(verdict)
                return None
            stopped = {int(i) - 1 for i in verdict.split(":", 1)[1].split(",")}
            for position in stopped:
                withheld = Withheld(OPTED_OUT_CODE, "the recipient opted out meanwhile")
                self.results[unit[position].message_id] = withheld
            unit = [m for i, m in enumerate(unit) if i not in stopped]
        return unit

    def _wait_hold(self, seconds: float) -> bool:
        """Sleep through an account hold; False (and the lane stops) when it outlasts the batch's time."""
        if time.monotonic() + seconds >= self.deadline:
            self.stop("deadline")
            return False
        time.sleep(seconds)
        return True

    def _start(self, unit: list[OutboundMessage], heard: list) -> str:
        """One journal script run for this unit."""
        return call_journal.start_calls(self.claim_token, self.broadcast_id, self.account,
                                        [m.message_id for m in unit], self.journal_ttl, heard,
                                        [self.optout_members[m.message_id] for m in unit] if self.optout_key else [],
                                        self.optout_key)

    def note(self, unit: list[OutboundMessage], results: list[SendResult], heard: list) -> None:
        """Keep results (and queue them for the journal); a 429 holds the whole account for its Retry-After."""
        for message, result in zip(unit, results):
            self.results[message.message_id] = result
            heard.append((message.message_id, call_journal.encode_answer(result)))
        breaker.observe(self.account, results)
        limited = [r for r in results if isinstance(r, RateLimited)]
        if limited:
            pause = max(r.retry_after or _DEFAULT_RETRY_AFTER for r in limited)
            call_journal.hold_account(self.account, pause)
            if self.pacer is not None:
                self.pacer.slow_down(pause)


def _cost(unit: list[OutboundMessage], channel: str) -> int:
    """Rate-limit tokens of one request: its messages' units on the channel (SMS parts)."""
    return sum(units(channel, m.body) for m in unit)


def _run_lane(app, lanes: _Lanes, provider: Provider, units: list[list[OutboundMessage]]) -> None:
    """Send units one after another until done, paused, or out of time; never raises."""
    heard: list[tuple[int, str]] = []
    with app.app_context():
        try:
            for unit in units:
                unit = lanes.may_call(unit, heard)
                if unit is None:
                    break
                if unit:
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


def run_batch(account: str, provider: Provider, messages: list[OutboundMessage], claim_token,
              broadcast_id: str | None, time_budget: float, threads: int, pacer: Pacer | None = None,
              journal_ttl: float = 600.0, optout_key: str | None = None) -> BatchRun:
    """Send a batch through one account from up to `threads` lanes, each call journalled under the claim's token.

    The account (not the provider kind) owns the breaker: two accounts of one provider fail apart.
    """
    units = plan_units(provider, messages)
    # What the recent opt-outs set would hold for each recipient (a keyed pseudonym, never the number).
    members = {m.message_id: optouts.recent_member(m.to) for m in messages} if optout_key else None
    lanes = _Lanes(claim_token, broadcast_id, account, provider.channel, time.monotonic() + time_budget, pacer,
                   journal_ttl, optout_key, members)
    app = current_app._get_current_object()
    width = max(1, min(threads, provider.max_lanes or threads, len(units)))
    if width == 1:
        _run_lane(app, lanes, provider, units)
    else:
        futures = [_executor(threads).submit(_run_lane, app, lanes, provider, units[i::width])
                   for i in range(width)]
        for future in futures:
            future.result()
    return BatchRun(lanes.results, lanes.stop_reason)
