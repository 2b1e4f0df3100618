"""The call journal's Redis script and its answer encoding, against the real Redis."""
from __future__ import annotations

import uuid
from decimal import Decimal

import redis

from app.services.audience import optouts
from app.services.state import call_journal, guard
from providers.base import (Accepted, GatewayRejected, NotSent, PermanentError, RateLimited, TemporaryError,
                            UnknownOutcome)


def test_every_answer_type_survives_the_journal():
    answers = [Accepted("AT-9", Decimal("0.2500"), "ZMW", 2), Accepted("AT-10"), RateLimited("rate_limited", "", 4.0),
               NotSent("connect_failed", "refused"), GatewayRejected("gateway_auth", "401"),
               TemporaryError("InternalServerError", "x", retry_after=2.0), PermanentError("UserInBlacklist"),
               UnknownOutcome("read_timeout", "15 s")]
    for answer in answers:
        back = call_journal.decode_answer(call_journal.encode_answer(answer))
        assert type(back) is type(answer)
        if isinstance(answer, Accepted):
            assert back == answer
        else:
            assert (back.code, getattr(back, "retry_after", None)) == (answer.code, getattr(answer, "retry_after", None))


def test_a_call_starts_only_while_running_with_the_breaker_closed_and_a_journal(app, redis_url):
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    token = uuid.uuid4()
    with app.app_context():
        assert call_journal.start_calls(token, "b9", "africastalking", [1], 60) == "no_journal"
        call_journal.open_journal(token, [], 60)
        assert call_journal.start_calls(token, "b9", "africastalking", [1], 60) == "no_flag"
        guard.publish("b9", "paused", 2)
        answer = [(5, call_journal.encode_answer(Accepted("AT-5")))]
        assert call_journal.start_calls(token, "b9", "africastalking", [1], 60, answer) == "status:paused"
        guard.publish("b9", "running", 3)
        store.set(call_journal.breaker_key("africastalking"), "gateway_down")
        assert call_journal.start_calls(token, "b9", "africastalking", [1], 60) == "breaker:gateway_down"
        store.delete(call_journal.breaker_key("africastalking"))
        assert call_journal.start_calls(token, "b9", "africastalking", [1, 2], 60) == "ok"
        journal = call_journal.read_journals([token])[str(token)]
    # Answers are kept even when the next call is refused; only allowed calls are marked started.
    assert journal.started == {1, 2} and journal.answers == {5: Accepted("AT-5")}


def test_a_recipient_who_opted_out_since_the_claim_is_named_and_nothing_starts(app, service):
    token, sid = uuid.uuid4(), service.service_id
    with app.app_context():
        call_journal.open_journal(token, [], 60)
        guard.publish("b7", "running", 2)
        optouts.opt_out(sid, "sms", "+260971000002", source="test", actor="test")
        numbers = [optouts.recent_member(n) for n in ("+260971000001", "+260971000002", "+260971000003")]
        verdict = call_journal.start_calls(token, "b7", "africastalking", [1, 2, 3], 60, (), numbers,
                                           optouts.recent_key(sid, "sms"))
        assert verdict == "optout:2"
        assert call_journal.read_journals([token])[str(token)].started == set()
        # Another channel's list, or a START since, lets every call start.
        assert call_journal.start_calls(token, "b7", "africastalking", [1, 2, 3], 60, (), numbers,
                                        optouts.recent_key(sid, "email")) == "ok"
        optouts.opt_in(sid, "sms", "+260971000002", source="test", actor="test")
        assert call_journal.start_calls(token, "b7", "africastalking", [4], 60, (),
                                        [optouts.recent_member("+260971000002")],
                                        optouts.recent_key(sid, "sms")) == "ok"
        assert call_journal.read_journals([token])[str(token)].started == {1, 2, 3, 4}


def _running_claim(broadcast_id: str) -> uuid.UUID:
    """A claim with an open journal, of a broadcast whose flag says running."""
    token = uuid.uuid4()
    call_journal.open_journal(token, [], 60)
    guard.publish(broadcast_id, "running", 2)
    return token


def test_a_retry_after_holds_every_call_of_the_account_and_only_ever_lengthens(app, redis_url):
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    with app.app_context():
        token = _running_claim("b5")
        call_journal.hold_account("at_held", 30)
        call_journal.hold_account("at_held", 0.5)  # a shorter Retry-After heard later does not cut it
        verdict = call_journal.start_calls(token, "b5", "at_held", [1], 60)
        assert verdict.startswith("hold:") and 29_000 < int(verdict[5:]) <= 30_000
        assert call_journal.start_calls(token, "b5", "another_account", [1], 60) == "ok"
        store.delete(call_journal.hold_key("at_held"))
        assert call_journal.start_calls(token, "b5", "at_held", [2], 60) == "ok"
        assert call_journal.read_journals([token])[str(token)].started == {1, 2}


def test_a_fenced_journal_starts_no_call_but_keeps_the_answers_heard(app):
    token, alive = uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        for claim in (token, alive):
            call_journal.open_journal(claim, [], 60)
        guard.publish("b6", "running", 2)
        assert call_journal.start_calls(token, "b6", "africastalking", [1], 60) == "ok"
        call_journal.heartbeat(alive, 60)
        fenced = call_journal.fence_journals([token, alive, uuid.uuid4()], lease_seconds=30)
        answer = [(1, call_journal.encode_answer(Accepted("AT-1")))]
        assert call_journal.start_calls(token, "b6", "africastalking", [2], 60, answer) == "fenced"
        assert call_journal.start_calls(alive, "b6", "africastalking", [3], 60) == "ok"
        after = call_journal.read_journals([token])[str(token)]
    assert fenced[str(alive)] == call_journal.ALIVE and list(fenced.values())[2] is None
    assert fenced[str(token)].started == {1} and after.started == {1} and after.answers == {1: Accepted("AT-1")}


def test_the_journal_scripts_run_again_after_redis_forgot_them(app, redis_url):
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    with app.app_context():
        token = _running_claim("b8")
        assert call_journal.start_calls(token, "b8", "africastalking", [1], 60) == "ok"
        store.script_flush()  # as after a Redis restart: every loaded script is gone
        assert call_journal.start_calls(token, "b8", "africastalking", [2], 60) == "ok"
        assert call_journal.fence_journals([token], lease_seconds=30)[str(token)].started == {1, 2}
