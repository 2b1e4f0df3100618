"""The retry policy: what each gateway result does to a claimed message."""
from __future__ import annotations

import uuid
from decimal import Decimal

from providers.base import (Accepted, GatewayRejected, NotSent, PermanentError, RateLimited, TemporaryError,
                            UnknownOutcome)
from app.services.sending.retry_policy import Policy, judge_batch

POLICY = Policy(max_attempts=3, base_seconds=1.0, max_seconds=60.0)


def ids(count: int) -> list[int]:
    """Message ids 1..count."""
    return list(range(1, count + 1))


def test_each_result_lands_in_its_bucket():
    results = {1: Accepted("AT1", Decimal("0.25"), "ZMW", 1), 2: TemporaryError("InternalServerError"),
               3: TemporaryError("GatewayError"), 4: PermanentError("UserInBlacklist"),
               5: RateLimited("rate_limited", retry_after=2.5), 6: UnknownOutcome("read_timeout")}
    attempts = {1: 1, 2: 1, 3: 3, 4: 1, 5: 3, 6: 1, 7: 1}
    outcome = judge_batch(uuid.uuid4(), ids(7), results, attempts, resend_safe=False, policy=POLICY)
    assert outcome.sent == [(1, "AT1", Decimal("0.25"), "ZMW", 1)]
    assert [(mid, code) for mid, _delay, code, _ in outcome.retry] == [(2, "InternalServerError")]
    assert 0.5 <= outcome.retry[0][1] <= 1.0
    assert [(mid, reason) for mid, reason, _code, _ in outcome.dead] == [
        (3, "attempts_exhausted"), (4, "permanent_error"), (6, "outcome_unknown")]
    assert outcome.deferred == [(5, 2.5)]
    assert outcome.released == [7]


def test_unknown_outcome_is_retried_only_through_a_gateway_that_honours_keys():
    outcome = judge_batch(uuid.uuid4(), ids(1), {1: UnknownOutcome("read_timeout")}, {1: 1},
                            resend_safe=True, policy=POLICY)
    assert [mid for mid, *_ in outcome.retry] == [1] and outcome.dead == []


def test_backoff_grows_and_honours_retry_after():
    early = judge_batch(uuid.uuid4(), ids(1), {1: TemporaryError("x")}, {1: 1}, True, POLICY).retry[0][1]
    late = judge_batch(uuid.uuid4(), ids(1), {1: TemporaryError("x", retry_after=30)}, {1: 2}, True,
                         POLICY).retry[0][1]
    assert early <= 1.0 and late >= 30


def test_requests_that_never_reached_the_gateway_or_were_refused_for_the_account_are_released():
    results = {1: NotSent("connect_failed"), 2: GatewayRejected("gateway_auth"),
               3: TemporaryError("gateway_http_503", gateway_fault="down")}
    # Even on the last attempt: such a message has not used one, so it is never dead-lettered for it.
    outcome = judge_batch(uuid.uuid4(), ids(3), results, {1: 3, 2: 3, 3: 1}, resend_safe=False, policy=POLICY)
    assert outcome.released == [1, 2]
    assert outcome.dead == [] and [mid for mid, *_ in outcome.retry] == [3]


def test_a_502_is_an_unknown_outcome_held_unless_the_gateway_honours_keys():
    result = {1: UnknownOutcome("gateway_http_502", gateway_fault="down")}
    held = judge_batch(uuid.uuid4(), ids(1), result, {1: 1}, resend_safe=False, policy=POLICY)
    retried = judge_batch(uuid.uuid4(), ids(1), result, {1: 1}, resend_safe=True, policy=POLICY)
    assert [reason for _mid, reason, *_ in held.dead] == ["outcome_unknown"]
    assert [mid for mid, *_ in retried.retry] == [1]
