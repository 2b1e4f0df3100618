"""The one place that decides what happens to a message after a gateway call, or after a lost one.

Both the send task and the lease reaper build their batch outcome with `judge_batch`,
so a send that came back and a send whose worker died are judged by the same rules:
retry, defer, give back, dead-letter, or hold as outcome unknown.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from enum import Enum

from app.services.state.outcomes import BatchOutcome
from providers.base import (Accepted, GatewayRejected, NotSent, PermanentError, RateLimited, SendResult,
                            TemporaryError, UnknownOutcome)

_MAX_DETAIL = 500


class Verdict(str, Enum):
    """Where a message goes next."""

    SENT = "sent"
    # The gateway never had it (not attempted, never reached, refused as a whole): no attempt spent.
    RELEASE = "release"
    # The gateway asked for time (429): no attempt spent, back after Retry-After.
    DEFER = "defer"
    RETRY = "retry"
    DEAD = "dead"


class DeadReason(str, Enum):
    """Why a message was dead-lettered."""

    PERMANENT_ERROR = "permanent_error"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    OUTCOME_UNKNOWN = "outcome_unknown"


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict plus what its row needs: a delay, or a dead-letter reason."""

    verdict: Verdict
    delay: float = 0.0
    reason: DeadReason | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The tunables the decision reads (from app config)."""

    max_attempts: int
    base_seconds: float
    max_seconds: float

    @classmethod
    def from_config(cls, cfg) -> "Policy":
        """The policy configured for this process."""
        return cls(cfg["HERALD_MAX_ATTEMPTS"], cfg["HERALD_RETRY_BASE_SECONDS"], cfg["HERALD_RETRY_MAX_SECONDS"])


def backoff_seconds(attempts: int, base: float, ceiling: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the gateway asked."""
    window = min(ceiling, base * (2 ** max(0, attempts - 1)))
    delay = random.uniform(base / 2, max(base / 2, window))
    return max(delay, retry_after or 0.0)


def decide(result: SendResult | None, attempts: int, resend_safe: bool, policy: Policy) -> Decision:
    """Judge one message: `result` None means the call never started."""
    if result is None or isinstance(result, (NotSent, GatewayRejected)):
        return Decision(Verdict.RELEASE)
    if isinstance(result, Accepted):
        return Decision(Verdict.SENT)
    if isinstance(result, RateLimited):
        return Decision(Verdict.DEFER, result.retry_after or policy.base_seconds)
    if isinstance(result, PermanentError):
        return Decision(Verdict.DEAD, reason=DeadReason.PERMANENT_ERROR)
    if isinstance(result, UnknownOutcome) and not resend_safe:
        # The gateway may have it and would not recognise a second copy: never resend blindly.
        return Decision(Verdict.DEAD, reason=DeadReason.OUTCOME_UNKNOWN)
    if attempts >= policy.max_attempts:
        return Decision(Verdict.DEAD, reason=DeadReason.ATTEMPTS_EXHAUSTED)
    retry_after = result.retry_after if isinstance(result, TemporaryError) else None
    return Decision(Verdict.RETRY, backoff_seconds(attempts, policy.base_seconds, policy.max_seconds, retry_after))


def lost_call() -> UnknownOutcome:
    """The result of a call whose worker died before hearing the answer."""
    return UnknownOutcome("lease_expired", "worker stopped mid-send; the gateway may have it")


def judge_batch(token: uuid.UUID, message_ids: list[int], results: dict[int, SendResult | None],
                attempts: dict[int, int], resend_safe: bool, policy: Policy) -> BatchOutcome:
    """Sort each message of a claim into sent, retry, deferred, dead or released.

    A retry after an unknown outcome is pinned: it goes out again only through the same account.
    """
    outcome = BatchOutcome(token)
    for mid in message_ids:
        result = results.get(mid)
        decision = decide(result, attempts[mid], resend_safe, policy)
        if decision.verdict is Verdict.SENT:
            outcome.sent.append((mid, result.provider_message_id, result.cost, result.currency, result.segments))
            if len(result.part_ids) > 1:
                outcome.parts.append((mid, result.part_ids))
        elif decision.verdict is Verdict.RELEASE:
            outcome.released.append(mid)
        elif decision.verdict is Verdict.DEFER:
            outcome.deferred.append((mid, decision.delay))
        elif decision.verdict is Verdict.DEAD:
            outcome.dead.append((mid, decision.reason.value, result.code, result.detail[:_MAX_DETAIL]))
        else:
            outcome.retry.append((mid, decision.delay, result.code, result.detail[:_MAX_DETAIL]))
            if isinstance(result, UnknownOutcome):
                outcome.pinned.append(mid)
    return outcome
