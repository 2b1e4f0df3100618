"""The circuit breaker against real Redis and PostgreSQL: thresholds, window, reset, pause, probes, operator."""
from __future__ import annotations

import threading
import time

import pytest
import redis
from herald_testing import recipients
from sqlalchemy import text

from app.extensions import db
from app.models import AuditEntry, Broadcast
from app.services.sending import breaker
from providers.base import (Accepted, GatewayRejected, NotSent, PermanentError, RateLimited, TemporaryError,
                            UnknownOutcome)

ACCOUNT = "africastalking"
DOWN = [NotSent("connect_failed")]
REJECTED = [GatewayRejected("gateway_auth")]
ANSWERED = [Accepted("ATXid_1")]


@pytest.fixture
def ctx(app, clean):
    """An app context on clean stores, with fresh per-process breaker state."""
    breaker.forget_local()
    with app.app_context():
        yield app


def start_broadcast(client, service, count: int = 3) -> str:
    """A running broadcast of the default account."""
    response = client.post("/v1/broadcasts", headers=service.headers,
                           json={"channel": "sms", "body": "hello", "recipients": recipients(count)})
    assert response.status_code == 202
    return response.json["id"]


def observe_times(results, times: int) -> list:
    """Observe the same request outcome `times` times; return what each call returned."""
    return [breaker.observe(ACCOUNT, results) for _ in range(times)]


def status(broadcast_id: str) -> tuple[str, str | None]:
    """(status, paused_reason) of a broadcast."""
    db.session.expire_all()
    row = db.session.get(Broadcast, broadcast_id)
    return row.status, row.paused_reason


def breaker_audits(broadcast_id: str) -> list[tuple]:
    """(action, reason) of the audit rows the breaker wrote for a broadcast."""
    rows = db.session.query(AuditEntry).filter_by(broadcast_id=broadcast_id, actor=breaker.ACTOR)
    return [(row.action, row.reason) for row in rows.order_by(AuditEntry.id)]


def test_five_down_requests_in_a_row_open_it(ctx, redis_url):
    assert observe_times(DOWN, 4) == [None] * 4
    assert breaker.open_reason(ACCOUNT, max_age=0) is None
    assert breaker.observe(ACCOUNT, DOWN) == "gateway_down"
    assert redis.Redis.from_url(redis_url).get(breaker.open_key(ACCOUNT)) == b"gateway_down"
    assert breaker.open_reason(ACCOUNT, max_age=0) == "gateway_down"
    # Later faults find it open: nobody opens it twice.
    assert breaker.observe(ACCOUNT, DOWN) is None


def test_two_rejected_requests_open_it_for_rejection(ctx):
    assert observe_times(REJECTED, 2) == [None, "gateway_rejected"]
    assert breaker.open_reason(ACCOUNT, max_age=0) == "gateway_rejected"


@pytest.mark.parametrize("answer", [ANSWERED, [PermanentError("InvalidPhoneNumber")],
                                    [TemporaryError("InternalServerError")]])
def test_an_answer_about_a_message_starts_the_count_again(ctx, answer):
    observe_times(DOWN, 4)
    breaker.observe(ACCOUNT, answer)
    assert observe_times(DOWN, 4) == [None] * 4
    assert breaker.open_reason(ACCOUNT, max_age=0) is None


def test_a_429_or_an_unknown_outcome_neither_counts_nor_clears(ctx):
    observe_times(DOWN, 4)
    assert breaker.observe(ACCOUNT, [RateLimited("rate_limited", retry_after=1.0)]) is None
    assert breaker.observe(ACCOUNT, [UnknownOutcome("read_timeout")]) is None
    assert breaker.observe(ACCOUNT, DOWN) == "gateway_down"


def test_a_request_with_mixed_results_is_no_gateway_fault():
    assert breaker.request_fault([NotSent("x"), Accepted("id")]) is None
    assert breaker.request_fault([UnknownOutcome("gateway_http_502", gateway_fault="down")] * 3) == "down"


def test_faults_further_apart_than_the_window_do_not_open_it(ctx):
    ctx.config["HERALD_BREAKER_WINDOW_SECONDS"] = 0.3
    try:
        observe_times(DOWN, 4)
        time.sleep(0.4)
        assert observe_times(DOWN, 4) == [None] * 4
        assert breaker.open_reason(ACCOUNT, max_age=0) is None
    finally:
        ctx.config["HERALD_BREAKER_WINDOW_SECONDS"] = 10.0


def test_opening_pauses_running_broadcasts_of_that_account_once_however_many_race(ctx, client, service):
    mine, other = start_broadcast(client, service), start_broadcast(client, service)
    db.session.execute(text("UPDATE broadcasts SET provider = 'other-account' WHERE id = :bid"), {"bid": other})
    db.session.commit()
    observe_times(DOWN, 4)
    opened: list = []

    def worker():
        """One sender thread seeing the gateway down."""
        with ctx.app_context():
            opened.append(breaker.observe(ACCOUNT, DOWN))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert opened.count("gateway_down") == 1
    assert status(mine) == ("paused", "gateway_down")
    assert status(other) == ("running", None)
    assert breaker_audits(mine) == [("pause", "gateway_down")]


def test_a_probe_that_gets_through_closes_a_down_breaker_and_resumes(ctx, client, service):
    broadcast_id = start_broadcast(client, service)
    observe_times(DOWN, 5)
    assert breaker.note_probe(ACCOUNT, NotSent("connect_failed")) == "gateway_down"
    assert breaker.resume_recovered() == []
    assert breaker.note_probe(ACCOUNT, None) is None
    assert [str(b) for b in breaker.resume_recovered()] == [broadcast_id]
    assert status(broadcast_id) == ("running", None)
    assert breaker_audits(broadcast_id) == [("pause", "gateway_down"), ("resume", "gateway answering again")]


def test_a_rejected_breaker_waits_for_an_operator_whose_resume_makes_it_half_open(ctx, client, service):
    broadcast_id = start_broadcast(client, service)
    observe_times(REJECTED, 2)
    assert breaker.note_probe(ACCOUNT, None) == "gateway_rejected"
    assert breaker.resume_recovered() == []
    assert status(broadcast_id) == ("paused", "gateway_rejected")

    response = client.post(f"/v1/broadcasts/{broadcast_id}/resume", headers=service.headers)
    assert response.status_code == 200
    assert breaker.open_reason(ACCOUNT, max_age=0) is None
    assert status(broadcast_id) == ("running", None)
    # Half-open: the next refusals open it again and pause the broadcast again.
    assert observe_times(REJECTED, 2) == [None, "gateway_rejected"]
    assert status(broadcast_id) == ("paused", "gateway_rejected")


def test_a_probe_refused_for_the_account_turns_down_into_rejected(ctx):
    observe_times(DOWN, 5)
    assert breaker.note_probe(ACCOUNT, GatewayRejected("gateway_auth")) == "gateway_rejected"


def test_broadcasts_started_while_open_are_paused_by_the_sweep(ctx, client, service):
    observe_times(DOWN, 5)
    late = start_broadcast(client, service)
    assert [str(b) for b in breaker.pause_while_open()] == [late]
    assert status(late) == ("paused", "gateway_down")
    assert breaker.pause_while_open() == []


def test_observe_logs_instead_of_raising_when_redis_is_unreachable(ctx):
    from app import redis_store

    saved = dict(redis_store._state)
    redis_store.configure("redis://127.0.0.1:1/0")
    try:
        assert breaker.observe(ACCOUNT, DOWN) is None
    finally:
        redis_store._state.update(saved)


def test_one_beat_run_probes_at_a_time(ctx):
    assert breaker.take_probe_turn(5.0)
    assert not breaker.take_probe_turn(5.0)
    breaker.end_probe_turn()
    assert breaker.take_probe_turn(5.0)
