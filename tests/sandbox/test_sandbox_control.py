"""The /_sandbox control endpoints: config, reset, ledger, events."""
from __future__ import annotations

import time

import pytest


def test_get_config_shows_everything_but_the_key(sandbox):
    data = sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=10).json()
    assert data["username"] == sandbox.username
    assert data["currency"] == "ZMW"
    assert data["seed"] == 7
    assert "api_key" not in data


def test_post_config_changes_and_returns_whole_config(sandbox):
    response = sandbox.configure(latency_ms=5, honour_idempotency=False, dlr_url="http://127.0.0.1:9/x")
    assert response.status_code == 200
    data = response.json()
    assert (data["latency_ms"], data["honour_idempotency"], data["dlr_url"]) == (5, False, "http://127.0.0.1:9/x")
    assert data["username"] == sandbox.username


@pytest.mark.parametrize(
    "body",
    [
        {"bogus": 1},
        {"latency_ms": "fast"},
        {"temp_failure_rate": 2},
        {"http_error_rate": -0.1},
        {"honour_idempotency": "true"},
        {"dlr_url": 5},
        {"rate_limit_per_s": None},
    ],
)
def test_post_config_rejects_unknown_or_mistyped(sandbox, body):
    before = sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=10).json()
    response = sandbox.configure(**body)
    assert response.status_code == 400
    assert "error" in response.json()
    after = sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=10).json()
    assert after == before


def test_post_config_is_all_or_nothing(sandbox):
    assert sandbox.configure(latency_ms=10, nonsense=True).status_code == 400
    assert sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=10).json()["latency_ms"] == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"'])
def test_post_config_needs_a_json_object(sandbox, raw):
    response = sandbox.http.post(f"{sandbox.base_url}/_sandbox/config", data=raw, timeout=10)
    assert response.status_code == 400


def test_reset_clears_records_but_keeps_config(sandbox):
    sandbox.configure(latency_ms=1).raise_for_status()
    sandbox.send("+260971234567", keys="k")
    sandbox.reset()
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["requests"], ledger["by_key"]) == (0, 0, {})
    assert sandbox.events()["events"] == []
    assert sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=10).json()["latency_ms"] == 1
    # The dedup store is gone too: the same key is a fresh acceptance.
    sandbox.send("+260971234567", keys="k")
    assert sandbox.ledger()["accepted"] == 1


def test_ledger_counts_everything(sandbox):
    sandbox.send(["+260971234567", "+260961234567", "bad", "+260971999999"], keys=["a", "b", "c", "d"])
    sandbox.send("+260971234567", keys="a")
    sandbox.send("+260971234567")
    ledger = sandbox.ledger()
    assert ledger["accepted"] == 3
    assert ledger["requests"] == 3
    assert ledger["replays"] == 1
    assert ledger["permanent_failures"] == 2
    assert ledger["by_recipient"] == {"+260971234567": 2, "+260961234567": 1}
    assert ledger["by_key"] == {"a": 1, "b": 1}
    assert ledger["duplicate_recipients"] == ["+260971234567"]
    assert sum(ledger["accepted_per_second"].values()) == 3
    assert all(abs(int(second) - time.time()) < 60 for second in ledger["accepted_per_second"])
    for name in ("rate_limited", "temporary_failures", "http_errors", "dlr_sent", "dlr_failed", "dlr_pending"):
        assert ledger[name] == 0


def test_ledger_without_detail_leaves_out_the_maps(sandbox):
    sandbox.send("+260971234567", keys="a")
    ledger = sandbox.ledger(detail=False)
    assert "by_recipient" not in ledger and "by_key" not in ledger
    assert ledger["accepted"] == 1


def test_events_record_every_outcome_in_arrival_order(sandbox):
    started = time.time()
    sandbox.send(["+260971234567", "bad"], keys=["a", "b"])
    sandbox.send("+260971234567", keys="a")
    events = sandbox.events()["events"]
    assert [(e["to"], e["key"], e["outcome"]) for e in events] == [
        ("+260971234567", "a", "accepted"),
        ("bad", "b", "permanent"),
        ("+260971234567", "a", "replay"),
    ]
    times = [e["t"] for e in events]
    assert times == sorted(times) and len(set(times)) == 3
    assert started - 1 < times[0] < time.time() + 1


def test_events_since_and_limit_page_through(sandbox):
    sandbox.send([f"+26097100000{i}" for i in range(6)])
    first = sandbox.events(limit=4)
    assert len(first["events"]) == 4 and first["more"] is True
    rest = sandbox.events(since=first["events"][-1]["t"])
    assert [e["to"] for e in rest["events"]] == ["+260971000004", "+260971000005"]
    assert rest["more"] is False
    assert sandbox.events(since=time.time() + 60)["events"] == []


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"limit": "many"}, {"limit": "0"}])
def test_events_reject_bad_parameters(sandbox, params):
    response = sandbox.http.get(f"{sandbox.base_url}/_sandbox/events", params=params, timeout=10)
    assert response.status_code == 400
