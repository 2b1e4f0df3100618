"""Scripted trouble: temporary failures, outages, rate limiting, latency."""
from __future__ import annotations

import time


def entries(response) -> list[dict]:
    """The Recipients list of an AT answer."""
    return response.json()["SMSMessageData"]["Recipients"]


def test_temporary_failure_rate_one_fails_every_recipient(sandbox):
    sandbox.configure(temp_failure_rate=1.0).raise_for_status()
    response = sandbox.send(["+260971234567", "+260961234567"], keys=["a", "b"])
    assert response.status_code == 201
    for entry in entries(response):
        assert (entry["statusCode"], entry["status"], entry["cost"], entry["messageId"]) == (
            500,
            "InternalServerError",
            "0",
            "None",
        )
    assert response.json()["SMSMessageData"]["Message"] == "Sent to 0/2 Total Cost: ZMW 0.0000"
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["temporary_failures"]) == (0, 2)


def test_retry_after_temporary_failure_can_succeed(sandbox):
    sandbox.configure(temp_failure_rate=1.0).raise_for_status()
    sandbox.send("+260971234567", keys="retry-me")
    sandbox.configure(temp_failure_rate=0.0).raise_for_status()
    [entry] = entries(sandbox.send("+260971234567", keys="retry-me"))
    assert entry["status"] == "Success"
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["replays"], ledger["temporary_failures"]) == (1, 0, 1)


def test_temporary_failure_rate_is_a_rate(sandbox):
    sandbox.configure(temp_failure_rate=0.5).raise_for_status()
    response = sandbox.send([f"+2609710{i:05d}" for i in range(400)])
    failed = sum(1 for entry in entries(response) if entry["statusCode"] == 500)
    assert 120 < failed < 280


def test_http_error_rate_one_answers_503_and_records_nothing(sandbox):
    sandbox.configure(http_error_rate=1.0).raise_for_status()
    response = sandbox.send("+260971234567", keys="k")
    assert response.status_code == 503
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["http_errors"], ledger["requests"]) == (0, 1, 1)
    assert sandbox.events()["events"] == []


def test_over_the_rate_gets_429_with_retry_hints(sandbox):
    # A slow rate, so the bucket cannot refill between two back-to-back requests.
    sandbox.configure(rate_limit_per_s=2).raise_for_status()
    assert sandbox.send(["+260971000001", "+260971000002"]).status_code == 201
    response = sandbox.send("+260971000009", keys="late")
    assert response.status_code == 429
    assert response.json() == {"error": "rate limited"}
    assert int(response.headers["Retry-After"]) >= 1
    assert 0 < int(response.headers["X-Retry-After-Ms"]) <= 500
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["rate_limited"]) == (2, 1)
    last = sandbox.events()["events"][-1]
    assert (last["to"], last["key"], last["outcome"]) == ("+260971000009", "late", "rate_limited")


def test_rate_limit_refills(sandbox):
    sandbox.configure(rate_limit_per_s=2).raise_for_status()
    assert sandbox.send(["+260971000001", "+260971000002"]).status_code == 201
    assert sandbox.send("+260971000099").status_code == 429
    time.sleep(0.6)
    assert sandbox.send("+260971000099").status_code == 201


def test_request_larger_than_the_bucket_is_refused_whole(sandbox):
    sandbox.configure(rate_limit_per_s=3).raise_for_status()
    response = sandbox.send([f"+26097100000{i}" for i in range(4)])
    assert response.status_code == 429
    assert sandbox.ledger()["accepted"] == 0


def test_latency_delays_the_answer_once_per_request(sandbox):
    sandbox.configure(latency_ms=150).raise_for_status()
    started = time.monotonic()
    sandbox.send(["+260971234567", "+260961234567", "+260951234567"])
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 1.5


def test_latency_does_not_serialise_requests(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    sandbox.configure(latency_ms=300).raise_for_status()

    def one(index):
        """A send on its own connection."""
        return type(sandbox)(sandbox.base_url).send(f"+26097123456{index}").status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(one, range(6)))
    assert statuses == [201] * 6
    assert time.monotonic() - started < 1.5
