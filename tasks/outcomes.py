"""Turning gateway results into the rows' next states (the retry policy lives here)."""
from __future__ import annotations

import uuid

from app.services.message_state import BatchOutcome
from app.services.retry_policy import backoff_seconds
from providers.base import (Accepted, GatewayRejected, NotSent, OutboundMessage, PermanentError, RateLimited,
                            SendResult, TemporaryError, UnknownOutcome)

_MAX_DETAIL = 500


def build_outcome(token: uuid.UUID, messages: list[OutboundMessage], results: dict[int, SendResult],
                  attempts: dict[int, int], resend_safe: bool, cfg) -> BatchOutcome:
    """Sort each message into sent, retry, deferred (429: no attempt spent), dead or released (no attempt)."""
    outcome = BatchOutcome(token)
    max_attempts = cfg["HERALD_MAX_ATTEMPTS"]
    for message in messages:
        mid = message.message_id
        result = results.get(mid)
        if result is None or isinstance(result, (NotSent, GatewayRejected)):
            # Not attempted, never reached the gateway, or refused for the account (circuit breaker):
            # the attempt is given back and the quota refunded.
            outcome.released.append(mid)
        elif isinstance(result, Accepted):
            outcome.sent.append((mid, result.provider_message_id, result.cost, result.currency, result.segments))
        elif isinstance(result, RateLimited):
            outcome.deferred.append((mid, result.retry_after or cfg["HERALD_RETRY_BASE_SECONDS"]))
        elif isinstance(result, PermanentError):
            outcome.dead.append((mid, "permanent_error", result.code, result.detail[:_MAX_DETAIL]))
        elif isinstance(result, UnknownOutcome) and not resend_safe:
            outcome.dead.append((mid, "outcome_unknown", result.code, result.detail[:_MAX_DETAIL]))
        elif attempts[mid] >= max_attempts:
            outcome.dead.append((mid, "attempts_exhausted", result.code, result.detail[:_MAX_DETAIL]))
        else:
            retry_after = result.retry_after if isinstance(result, TemporaryError) else None
            delay = backoff_seconds(attempts[mid], cfg["HERALD_RETRY_BASE_SECONDS"], cfg["HERALD_RETRY_MAX_SECONDS"],
                                    retry_after)
            outcome.retry.append((mid, delay, result.code, result.detail[:_MAX_DETAIL]))
    return outcome
