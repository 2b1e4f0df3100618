"""Routed quotas with real processes: four send processes race, each account stops exactly at its quota.

Three sandboxes, none deduplicating, one per account: Zambia's route, Canada's route, and the
catch-all that carries the rest of the world (here the United States, which shares +1 with Canada).
Each account's ledger must show exactly its quota, and Canada's no US number.
"""
from __future__ import annotations

import json
import sys

import pytest
import requests
from herald_testing import make_service, truncate_all, wait_until
from scripts.testbed import WEBHOOK_SECRET, Stack, free_port, wait_http

QUOTAS = {"zambia": 700, "world": 500, "canada": 300}
ZAMBIA = [f"+26096{2000000 + i:07d}" for i in range(1500)]
US = [f"+1201555{i:04d}" for i in range(1000)]
CANADA = [f"+1506234{i:04d}" for i in range(QUOTAS["canada"])]
ROUTES = [{"name": "zambia", "country": "ZM", "account": "zambia", "price": "0.20"},
          {"name": "canada", "country": "CA", "account": "canada", "price": "0.05"},
          {"name": "default", "account": "world", "price": "0.30"}]


def _account(url: str) -> dict:
    """An Africa's Talking-dialect account on one sandbox."""
    return {"provider": "africastalking", "base_url": url, "username": "sandbox", "api_key": "sandbox-key",
            "webhook_secret": WEBHOOK_SECRET, "honours_idempotency_key": False}


@pytest.fixture(scope="module")
def quota_stack(database_url, redis_url, tmp_path_factory):
    """API, two bulk workers of two processes each, and one sandbox per account; every account has a quota."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("route-quotas")),
                    AT_HONOURS_IDEMPOTENCY_KEY="0", SANDBOX_DLR_URL="", HERALD_BATCH_SIZE=100)
    urls = {"zambia": running.sandbox_url}
    for name in ("world", "canada"):
        port = free_port()
        urls[name] = f"http://127.0.0.1:{port}"
        running._start(f"sandbox-{name}", [sys.executable, "-m", "sandbox", "--port", str(port)])
    running.env.update(
        HERALD_ACCOUNTS=json.dumps({name: _account(url) for name, url in urls.items()}),
        HERALD_SMS_PROVIDER="world", HERALD_ROUTES=json.dumps(ROUTES),
        HERALD_PROVIDER_DAILY_QUOTAS=",".join(f"{name}={n}" for name, n in QUOTAS.items()))
    try:
        for url in urls.values():
            if url != running.sandbox_url:
                wait_http(f"{url}/_sandbox/config")
        running.start_all(bulk_workers=2)
        yield running, urls
    finally:
        running.stop()


def _ledger(url: str) -> dict:
    """One sandbox's ledger, per recipient."""
    response = requests.get(f"{url}/_sandbox/ledger", timeout=30)
    response.raise_for_status()
    return response.json()


def test_each_account_stops_exactly_at_its_quota_and_canada_takes_no_us_number(quota_stack, app, redis_url):
    running, urls = quota_stack
    truncate_all(app, redis_url)
    key = make_service(app, "routed-quotas")
    for url in urls.values():
        requests.post(f"{url}/_sandbox/reset", timeout=30).raise_for_status()
        requests.post(f"{url}/_sandbox/config", json={"honour_idempotency": False}, timeout=30).raise_for_status()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key.key}"
    created = api.post(f"{running.api_url}/v1/broadcasts", timeout=60, json={
        "channel": "sms", "body": "Quota check", "recipients": [{"to": n} for n in ZAMBIA + US + CANADA]})
    assert created.status_code == 202, created.text
    broadcast_id = created.json()["id"]
    # Every account spent: the broadcast pauses for quota with the rest still pending.
    final = wait_until(lambda: (lambda s: s if s["status"] == "paused" else None)(
        api.get(f"{running.api_url}/v1/broadcasts/{broadcast_id}", timeout=30).json()), 50, 0.5,
        "the broadcast to pause for quota")
    ledgers = {name: _ledger(url) for name, url in urls.items()}
    accepted = {name: ledger["accepted"] for name, ledger in ledgers.items()}
    us_via_canada = len(set(US) & set(ledgers["canada"]["by_recipient"]))
    print(f"\naccepted per account {accepted} against quotas {QUOTAS}; US numbers via the CA route: "
          f"{us_via_canada}; paused_reason {final['paused_reason']}")
    assert accepted == QUOTAS
    assert us_via_canada == 0
    assert set(ledgers["canada"]["by_recipient"]) == set(CANADA)
    assert set(ledgers["world"]["by_recipient"]) <= set(US)
    assert set(ledgers["zambia"]["by_recipient"]) <= set(ZAMBIA)
    assert all(times == 1 for ledger in ledgers.values() for times in ledger["by_recipient"].values())
    assert final["paused_reason"] == "quota" and final["counts"]["processing"] == 0
