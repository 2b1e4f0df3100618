"""The pipeline under faults, with real worker processes: crashes, flaky gateways, lost broker state.

Every test ends at the sandbox ledger: each recipient accepted exactly once.
"""
from __future__ import annotations

import time

import redis
from herald_testing import recipients, wait_until
from pipeline_checks import assert_each_accepted_once, gone_out, start_broadcast, summary, wait_completed

from app.extensions import db
from app.models import Message
from sqlalchemy import func, select


def test_sigkilled_workers_lose_nothing_and_send_nothing_twice(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 15})
    count = 6000
    broadcast_id = start_broadcast(client, service, count)
    kills = 0
    for _ in range(3):
        wait_until(lambda: summary(client, service, broadcast_id)["counts"]["processing"] > 0, 60, 0.1,
                   "a batch in flight")
        gateway.kill("worker")
        kills += 1
        gateway.start_worker()
    final = wait_completed(client, service, broadcast_id, timeout=180)
    assert kills == 3
    assert final["counts"]["sent"] + final["counts"]["delivered"] == count
    assert_each_accepted_once(gateway.ledger(), count)


def test_temporary_failures_are_retried_until_everyone_is_sent(gateway, client, service, app):
    gateway.sandbox("POST", "/_sandbox/config", json={"temp_failure_rate": 0.2})
    count = 3000
    broadcast_id = start_broadcast(client, service, count)
    final = wait_completed(client, service, broadcast_id, timeout=180)
    assert final["counts"]["sent"] + final["counts"]["delivered"] == count
    ledger = gateway.ledger()
    assert_each_accepted_once(ledger, count)
    assert ledger["temporary_failures"] > count * 0.1
    with app.app_context():
        attempts = db.session.scalar(select(func.sum(Message.attempts)).where(Message.broadcast_id == broadcast_id))
        retried = db.session.scalar(select(func.count()).where(Message.broadcast_id == broadcast_id,
                                                               Message.attempts > 1))
    assert attempts == count + ledger["temporary_failures"]
    assert retried > 0


def test_flushing_redis_mid_broadcast_still_completes_without_duplicates(gateway, client, service, redis_url):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 10})
    count = 5000
    broadcast_id = start_broadcast(client, service, count)
    wait_until(lambda: gone_out(summary(client, service, broadcast_id)) > 500, 60, 0.1, "sending under way")
    redis.Redis.from_url(redis_url).flushdb()
    time.sleep(1.0)
    redis.Redis.from_url(redis_url).flushdb()
    wait_completed(client, service, broadcast_id, timeout=180)
    assert_each_accepted_once(gateway.ledger(), count)


def test_permanent_failures_are_dead_lettered_and_requeue_sends_again(gateway, client, service):
    blacklisted = {"to": "+260961999999"}
    flaky = {"to": "+260971000777"}
    response = client.post("/v1/broadcasts", headers=service.headers, json={
        "channel": "sms", "body": "Voucher window opens", "recipients": recipients(50) + [blacklisted, flaky]})
    broadcast_id = response.json["id"]
    wait_completed(client, service, broadcast_id, timeout=90)
    letters = client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"]
    assert [(d["reason"], d["error_code"], d["recipient"], d["carrier"]) for d in letters] == [
        ("permanent_error", "UserInBlacklist", blacklisted["to"], "MTN")]
    assert summary(client, service, broadcast_id)["counts"]["failed"] == 1

    requeued = client.post(f"/v1/dead-letters/{letters[0]['id']}/requeue", headers=service.headers)
    assert requeued.status_code == 200
    again = client.post(f"/v1/dead-letters/{letters[0]['id']}/requeue", headers=service.headers)
    assert again.status_code == 409
    wait_until(lambda: client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"], 60, 0.3,
               "the requeued message to fail again")
    events = gateway.sandbox("GET", "/_sandbox/events", params={"since": 0})["events"]
    assert sum(1 for e in events if e["to"] == blacklisted["to"]) == 2
    fresh = client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"][0]
    assert client.post(f"/v1/dead-letters/{fresh['id']}/discard", headers=service.headers).status_code == 200
    assert client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"] == []
    assert wait_completed(client, service, broadcast_id, 60)["counts"]["failed"] == 1


def test_exhausted_attempts_dead_letter_then_requeue_delivers(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"temp_failure_rate": 1.0})
    broadcast_id = start_broadcast(client, service, 20)
    wait_completed(client, service, broadcast_id, timeout=120)
    letters = client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"]
    assert len(letters) == 20 and {d["reason"] for d in letters} == {"attempts_exhausted"}
    gateway.sandbox("POST", "/_sandbox/config", json={"temp_failure_rate": 0.0})
    bulk = client.post("/v1/dead-letters/requeue", headers=service.headers,
                       json={"broadcast_id": broadcast_id, "reason": "attempts_exhausted"})
    assert bulk.status_code == 200, bulk.json
    assert bulk.json == {"requeued": 20, "skipped": 0, "broadcast_ids": [broadcast_id]}
    final = wait_completed(client, service, broadcast_id, timeout=90)
    assert final["counts"]["failed"] == 0
    assert_each_accepted_once(gateway.ledger(), 20)
