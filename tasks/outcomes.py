"""Turning gateway results into the rows' next states, as the retry policy decides."""
from __future__ import annotations

import uuid

from app.services.message_state import BatchOutcome
from app.services.retry_policy import Policy, Verdict, decide
from providers.base import Accepted, OutboundMessage, SendResult

_MAX_DETAIL = 500


def build_outcome(token: uuid.UUID, messages: list[OutboundMessage], results: dict[int, SendResult],
                  attempts: dict[int, int], resend_safe: bool, policy: Policy) -> BatchOutcome:
    """Sort each message into sent, retry, deferred (429: no attempt spent), dead or released."""
    outcome = BatchOutcome(token)
    for message in messages:
        mid = message.message_id
        result = results.get(mid)
        decision = decide(result, attempts[mid], resend_safe, policy)
        if decision.verdict is Verdict.SENT:
            assert isinstance(result, Accepted)
            outcome.sent.append((mid, result.provider_message_id, result.cost, result.currency, result.segments))
        elif decision.verdict is Verdict.RELEASE:
            outcome.released.append(mid)
        elif decision.verdict is Verdict.DEFER:
            outcome.deferred.append((mid, decision.delay))
        elif decision.verdict is Verdict.DEAD:
            outcome.dead.append((mid, decision.reason.value, result.code, result.detail[:_MAX_DETAIL]))
        else:
            outcome.retry.append((mid, decision.delay, result.code, result.detail[:_MAX_DETAIL]))
    return outcome
