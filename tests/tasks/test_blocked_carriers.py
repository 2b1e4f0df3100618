"""Blocked carriers with real processes: demo-like routes while the aggregator is down, then refusing our key.

Two sandbox gateways, neither deduplicating: the aggregator (Zamtel, the catch-all, and MTN's and
Airtel's fallback) and a direct gateway (MTN and Airtel first). While the aggregator is down, Zamtel
has no route: its rows are not claimed (counted), the summary lists it, and once MTN and Airtel are
done the broadcast pauses gateway_down and resumes when the probe gets through. The issue's 30 s
outage: BLOCKED_OUTAGE_S=30 .venv/bin/python scripts/stack.py run -- .venv/bin/python -m pytest -q -s
tests/tasks/test_blocked_carriers.py.
"""
from __future__ import annotations

import json
import os
import sys
import time

import pytest
import redis
import requests
from herald_testing import make_service, truncate_all, wait_until
from scripts.testbed import WEBHOOK_SECRET, Stack, free_port, wait_http

OUTAGE_S = float(os.environ.get("BLOCKED_OUTAGE_S", "12"))
# The issue says 10 s of 401 (BLOCKED_REFUSAL_S=10); the suite refuses for 4 s.
REFUSAL_S = float(os.environ.get("BLOCKED_REFUSAL_S", "4"))
RATE = 100
ZAMTEL = [f"+26095{3000000 + i:07d}" for i in range(600)]
MTN = [f"+26096{3000000 + i:07d}" for i in range(100)]
AIRTEL = [f"+26097{3000000 + i:07d}" for i in range(100)]
# The bound: a blocked carrier is in the summary within this many seconds.
LISTED_WITHIN_S = 5


def _account(url: str) -> dict:
    """An Africa's Talking-dialect account on one sandbox, which does not deduplicate."""
    return {"provider": "africastalking", "base_url": url, "username": "sandbox", "api_key": "sandbox-key",
            "webhook_secret": WEBHOOK_SECRET, "honours_idempotency_key": False}


@pytest.fixture(scope="module")
def demo_routes(database_url, redis_url, tmp_path_factory):
    """API, workers and beat on the demo's routes: `direct` for MTN and Airtel, `aggregator` for the rest."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("blocked")), AT_HONOURS_IDEMPOTENCY_KEY="0",
                    SANDBOX_DLR_DELAY_MS=100)
    direct_url = f"http://127.0.0.1:{free_port()}"
    routes = [{"name": "mtn-direct", "country": "ZM", "carrier": "MTN", "account": "direct", "price": "0.18",
               "priority": 1},
              {"name": "mtn-aggregator", "country": "ZM", "carrier": "MTN", "account": "aggregator", "price": "0.25",
               "priority": 2},
              {"name": "airtel-direct", "country": "ZM", "carrier": "Airtel", "account": "direct", "price": "0.17",
               "priority": 1},
              {"name": "airtel-aggregator", "country": "ZM", "carrier": "Airtel", "account": "aggregator",
               "price": "0.24", "priority": 2},
              {"name": "zamtel-aggregator", "country": "ZM", "carrier": "Zamtel", "account": "aggregator",
               "price": "0.22"},
              {"name": "default", "account": "aggregator", "price": "0.30"}]
    running.env.update(
        HERALD_ACCOUNTS=json.dumps({"aggregator": _account(running.sandbox_url), "direct": _account(direct_url)}),
        HERALD_SMS_PROVIDER="aggregator", HERALD_ROUTES=json.dumps(routes),
        HERALD_RATE_LIMITS=f"aggregator={RATE},direct={RATE}",
        SANDBOX_DLR_URL=f"{running.api_url}/webhooks/direct/{WEBHOOK_SECRET}")
    running._start("sandbox-direct", [sys.executable, "-m", "sandbox", "--port", direct_url.rsplit(":", 1)[1]])
    running.env["SANDBOX_DLR_URL"] = f"{running.api_url}/webhooks/aggregator/{WEBHOOK_SECRET}"
    try:
        wait_http(f"{direct_url}/_sandbox/config")
        running.start_all()
        yield running, direct_url
    finally:
        running.stop()


def _sandbox(url: str, method: str, path: str, **kwargs) -> dict:
    """Call one sandbox's control API."""
    response = requests.request(method, f"{url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def _begin(running, direct_url: str, app, redis_url: str, numbers: list[str]) -> tuple:
    """Clean stores and ledgers, then start a routed broadcast to `numbers`; (api session, broadcast id)."""
    truncate_all(app, redis_url)
    key = make_service(app, "blocked-programme")
    for url in (running.sandbox_url, direct_url):
        _sandbox(url, "POST", "/_sandbox/reset")
        _sandbox(url, "POST", "/_sandbox/config", json={"honour_idempotency": False, "latency_ms": 20})
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key.key}"
    created = api.post(f"{running.api_url}/v1/broadcasts", timeout=60, json={
        "channel": "sms", "body": "Advisory: rains from Monday", "recipients": [{"to": n} for n in numbers]})
    assert created.status_code == 202, created.text
    return api, created.json()["id"]


def _summary(running, api, broadcast_id: str) -> dict:
    """The broadcast's summary."""
    return api.get(f"{running.api_url}/v1/broadcasts/{broadcast_id}", timeout=30).json()


def _completed(running, api, broadcast_id: str, seconds: float) -> dict:
    """Wait for the broadcast to complete; its final summary."""
    return wait_until(lambda: (lambda s: s if s["status"] == "completed" else None)(
        _summary(running, api, broadcast_id)), seconds, 0.5, "the broadcast to complete")


def _once_each(running, direct_url: str, api, numbers: list[str]) -> dict:
    """Both ledgers together: each number at most once; every number sent or held as outcome unknown."""
    counts: dict[str, int] = {}
    for url in (running.sandbox_url, direct_url):
        for number, times in _sandbox(url, "GET", "/_sandbox/ledger")["by_recipient"].items():
            counts[number] = counts.get(number, 0) + times
    letters = api.get(f"{running.api_url}/v1/dead-letters", timeout=30).json()["dead_letters"]
    held = {d["recipient"] for d in letters}
    assert {(d["reason"], d["error_code"]) for d in letters} <= {("outcome_unknown", "connection_lost")}
    assert [n for n, times in counts.items() if times > 1] == []
    assert set(counts) | held == set(numbers)
    return {"sent": len(counts), "held": len(held)}


def _audit(running, api, broadcast_id: str) -> list[tuple]:
    """(action, reason) of the broadcast's audit rows, in order."""
    rows = api.get(f"{running.api_url}/v1/broadcasts/{broadcast_id}/audit", timeout=30).json()["audit"]
    return [(row["action"], row["reason"]) for row in rows]


def test_a_carrier_with_every_route_down_is_not_claimed_is_listed_pauses_and_completes(demo_routes, app, redis_url):
    running, direct_url = demo_routes
    numbers = ZAMTEL + MTN + AIRTEL
    api, broadcast_id = _begin(running, direct_url, app, redis_url, numbers)
    wait_until(lambda: _sandbox(running.sandbox_url, "GET", "/_sandbox/ledger", params={"detail": "0"})["accepted"]
               >= 100, 60, 0.1, "sending over the aggregator")

    store = redis.Redis.from_url(redis_url, decode_responses=True)
    _sandbox(running.sandbox_url, "POST", "/_sandbox/config", json={"down_for_s": OUTAGE_S})
    wait_until(lambda: store.get("herald:breaker:aggregator"), 30, 0.05, "the aggregator's breaker to open")
    opened, empty_at_open = time.monotonic(), _summary(running, api, broadcast_id)["empty_claims"]
    listed = wait_until(lambda: _summary(running, api, broadcast_id)["blocked_carriers"] or None, 30, 0.1,
                        "the blocked carrier in the summary")
    listed_after = time.monotonic() - opened
    paused = wait_until(lambda: (lambda s: s if s["status"] == "paused" else None)(
        _summary(running, api, broadcast_id)), OUTAGE_S + 30, 0.2, "the pause once only Zamtel is left")
    wait_until(lambda: _summary(running, api, broadcast_id)["status"] == "running", OUTAGE_S + 30, 0.2, "the resume")
    blocked_s = time.monotonic() - opened
    final = _completed(running, api, broadcast_id, len(numbers) / RATE + OUTAGE_S + 60)
    # Claims that found nothing from the breaker opening on: batches already queued, then none while blocked.
    empty_during = final["empty_claims"] - empty_at_open
    once = _once_each(running, direct_url, api, numbers)
    actions = _audit(running, api, broadcast_id)
    print(f"\naggregator down {OUTAGE_S:.0f}s: blocked {[(e['carrier'], e['reason']) for e in listed]} in the "
          f"summary {listed_after:.1f}s after its breaker opened; {empty_during} empty claims over {blocked_s:.1f}s "
          f"blocked (ticks at least 1/s); paused {paused['paused_reason']} with {paused['counts']['pending']} "
          f"pending; ledgers {once}; empty claims in all {final['empty_claims']}")

    assert listed_after <= LISTED_WITHIN_S
    assert {(e["country"], e["carrier"], e["reason"]) for e in listed} >= {("ZM", "zamtel", "gateway_down")}
    assert all(e["since"] and e["accounts"] == ["aggregator"] for e in listed)
    assert empty_during <= blocked_s
    assert paused["paused_reason"] == "gateway_down"
    assert final["blocked_carriers"] == []
    assert ("carrier_blocked", "gateway_down") in actions and ("carrier_unblocked", "a route is open") in actions
    assert actions.index(("resume", "a route is open again")) > actions.index(("carrier_blocked", "gateway_down"))
    assert once["sent"] + once["held"] == len(numbers)


def test_an_aggregator_refusing_our_key_waits_for_one_operator_call_then_completes(demo_routes, app, redis_url):
    running, direct_url = demo_routes
    api, broadcast_id = _begin(running, direct_url, app, redis_url, ZAMTEL[:400])
    wait_until(lambda: _sandbox(running.sandbox_url, "GET", "/_sandbox/ledger", params={"detail": "0"})["accepted"]
               >= 50, 60, 0.1, "sending over the aggregator")
    _sandbox(running.sandbox_url, "POST", "/_sandbox/config", json={"refuse_auth_for_s": REFUSAL_S})
    paused = wait_until(lambda: (lambda s: s if s["status"] == "paused" else None)(
        _summary(running, api, broadcast_id)), 30, 0.2, "the pause gateway_rejected")
    assert paused["paused_reason"] == "gateway_rejected"
    assert [e["reason"] for e in paused["blocked_carriers"]] == ["gateway_rejected"]
    time.sleep(REFUSAL_S + 2)  # the gateway takes our key again; nothing but an operator reopens a rejected breaker
    assert _summary(running, api, broadcast_id)["status"] == "paused"

    closed = api.post(f"{running.api_url}/v1/accounts/aggregator/breaker/close", timeout=30)
    assert closed.status_code == 200, closed.text
    assert closed.json()["was_open"] and closed.json()["resumed"] == [broadcast_id]
    final = _completed(running, api, broadcast_id, 60)
    once = _once_each(running, direct_url, api, ZAMTEL[:400])
    print(f"\naggregator refused our key {REFUSAL_S:.0f} s: paused {paused['paused_reason']} with "
          f"{paused['counts']['pending']} pending; one close call resumed it; ledgers {once}")
    assert final["blocked_carriers"] == []
    assert ("close_breaker" not in [a for a, _r in _audit(running, api, broadcast_id)])
    assert ("resume", "circuit breaker of aggregator closed by an operator") in _audit(running, api, broadcast_id)
