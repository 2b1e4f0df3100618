"""Failover between routes with real processes: Zamtel's primary gateway goes down mid-broadcast.

Two sandbox gateways, neither deduplicating: the primary route's and the backup's. The primary's
breaker opening moves the next claims to the backup; its probe getting through moves them back.
Both ledgers together must show every recipient once.
"""
from __future__ import annotations

import json
import sys
import time

import pytest
import requests
from herald_testing import make_service, truncate_all, wait_until
from scripts.testbed import WEBHOOK_SECRET, Stack, free_port, wait_http

RECIPIENTS = 3000
RATE = 100
OUTAGE_S = 8
# The bound: traffic moves to the next route within this many seconds of the outage.
FAILOVER_WITHIN_S = 10
NUMBERS = [f"+26095{2000000 + i:07d}" for i in range(RECIPIENTS)]


def _account(url: str, name: str) -> dict:
    """An Africa's Talking-dialect account on one sandbox, which does not deduplicate."""
    return {"provider": "africastalking", "base_url": url, "username": "sandbox", "api_key": "sandbox-key",
            "webhook_secret": WEBHOOK_SECRET, "honours_idempotency_key": False}


@pytest.fixture(scope="module")
def routed_stack(database_url, redis_url, tmp_path_factory):
    """API, workers and beat routing Zamtel over `zamtel_primary`, then `zamtel_backup` (its own sandbox)."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("routes")), AT_HONOURS_IDEMPOTENCY_KEY="0",
                    SANDBOX_DLR_DELAY_MS=100)
    backup_port = free_port()
    backup_url = f"http://127.0.0.1:{backup_port}"
    routes = [{"name": "zamtel-primary", "country": "ZM", "carrier": "Zamtel", "account": "zamtel_primary",
               "price": "0.20", "priority": 1},
              {"name": "zamtel-backup", "country": "ZM", "carrier": "Zamtel", "account": "zamtel_backup",
               "price": "0.26", "priority": 2},
              {"name": "default", "account": "zamtel_backup", "price": "0.30"}]
    running.env.update(
        HERALD_ACCOUNTS=json.dumps({"zamtel_primary": _account(running.sandbox_url, "zamtel_primary"),
                                    "zamtel_backup": _account(backup_url, "zamtel_backup")}),
        HERALD_SMS_PROVIDER="zamtel_backup", HERALD_ROUTES=json.dumps(routes),
        HERALD_RATE_LIMITS=f"zamtel_primary={RATE},zamtel_backup={RATE}",
        SANDBOX_DLR_URL=f"{running.api_url}/webhooks/zamtel_backup/{WEBHOOK_SECRET}")
    running._start("sandbox-backup", [sys.executable, "-m", "sandbox", "--port", str(backup_port)])
    running.env["SANDBOX_DLR_URL"] = f"{running.api_url}/webhooks/zamtel_primary/{WEBHOOK_SECRET}"
    try:
        wait_http(f"{backup_url}/_sandbox/config")
        running.start_all()
        yield running, backup_url
    finally:
        running.stop()


def _sandbox(url: str, method: str, path: str, **kwargs) -> dict:
    """Call one sandbox's control API."""
    response = requests.request(method, f"{url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def _seconds(ledger: dict) -> list[int]:
    """The wall-clock seconds in which a sandbox accepted something, in order."""
    return sorted(int(second) for second, n in ledger["accepted_per_second"].items() if n)


def test_zamtel_fails_over_to_the_backup_route_and_comes_back_each_recipient_once(routed_stack, app, redis_url):
    running, backup_url = routed_stack
    truncate_all(app, redis_url)
    key = make_service(app, "routed-programme")
    for url in (running.sandbox_url, backup_url):
        _sandbox(url, "POST", "/_sandbox/reset")
        _sandbox(url, "POST", "/_sandbox/config", json={"honour_idempotency": False, "latency_ms": 20})
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key.key}"
    created = api.post(f"{running.api_url}/v1/broadcasts", timeout=60, json={
        "channel": "sms", "body": "Zamtel advisory: rains from Monday", "recipients": [{"to": n} for n in NUMBERS]})
    assert created.status_code == 202, created.text
    broadcast_id = created.json()["id"]
    assert created.json()["provider"] == "routes"
    wait_until(lambda: _sandbox(running.sandbox_url, "GET", "/_sandbox/ledger", params={"detail": "0"})["accepted"]
               >= RECIPIENTS // 6, 60, 0.1, "sending over the primary route")
    assert _sandbox(backup_url, "GET", "/_sandbox/ledger", params={"detail": "0"})["accepted"] == 0

    went_down = time.time()
    _sandbox(running.sandbox_url, "POST", "/_sandbox/config", json={"down_for_s": OUTAGE_S})
    final = wait_until(lambda: (lambda s: s if s["status"] == "completed" else None)(
        api.get(f"{running.api_url}/v1/broadcasts/{broadcast_id}", timeout=30).json()),
        RECIPIENTS / RATE + OUTAGE_S + 60, 0.5, "the broadcast to complete")

    primary = _sandbox(running.sandbox_url, "GET", "/_sandbox/ledger")
    backup = _sandbox(backup_url, "GET", "/_sandbox/ledger")
    failover_s = _seconds(backup)[0] - went_down
    back_on_primary = [s for s in _seconds(primary) if s >= went_down + OUTAGE_S]
    letters = api.get(f"{running.api_url}/v1/dead-letters", timeout=30).json()["dead_letters"]
    print(f"\nprimary down {OUTAGE_S}s: backup took its first message {failover_s:.1f}s after; primary accepted "
          f"{primary['accepted']} ({len(back_on_primary)} s of traffic after it recovered), "
          f"backup {backup['accepted']};"
          f" dead letters {[(d['reason'], d['error_code']) for d in letters]}; routes "
          f"{ {name: v['accepted'] for name, v in final['routes'].items()} }")

    assert failover_s <= FAILOVER_WITHIN_S
    assert back_on_primary, "traffic did not return to the primary route after it recovered"
    # Every recipient once across both gateways; the only doubt allowed is a call cut as the primary
    # went down (at most one per send lane), held as outcome unknown and never resent on the backup.
    held = {d["recipient"] for d in letters}
    assert {(d["reason"], d["error_code"]) for d in letters} <= {("outcome_unknown", "connection_lost")}
    assert len(held) <= 16
    counts: dict[str, int] = {}
    for ledger in (primary, backup):
        for number, times in ledger["by_recipient"].items():
            counts[number] = counts.get(number, 0) + times
    assert [n for n, times in counts.items() if times > 1] == []
    assert set(counts) | held == set(NUMBERS)
    assert not held & set(backup["by_recipient"])
    assert final["routes"]["zamtel-backup"]["accepted"] == backup["accepted"]
    held_at_primary = len(held & set(primary["by_recipient"]))
    assert final["routes"]["zamtel-primary"]["accepted"] == primary["accepted"] - held_at_primary
