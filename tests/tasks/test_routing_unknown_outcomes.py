"""A 502 storm on a key-honouring primary route, with real processes: no retry goes through the backup.

The primary account honours idempotency keys, so a call whose answer was lost (a proxy's 502 after
the gateway took the message) is retried with the same key. Its breaker opens during the storm and
new messages fail over to the backup, but a retried one must stay on the primary, which alone knows
its key. Neither sandbox deduplicates, so a recipient at both ledgers would show.
"""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from herald_testing import make_service, truncate_all, wait_until
from scripts.testbed import WEBHOOK_SECRET, Stack, free_port, wait_http

RECIPIENTS = 1000
RATE = 200
STORM_S = 3
NUMBERS = [f"+26095{3000000 + i:07d}" for i in range(RECIPIENTS)]
ROUTES = [{"name": "primary", "country": "ZM", "account": "primary", "price": "0.20", "priority": 1},
          {"name": "backup", "country": "ZM", "account": "backup", "price": "0.26", "priority": 2},
          {"name": "default", "account": "backup", "price": "0.30"}]


class LostAnswers(ThreadingHTTPServer):
    """A proxy in front of a sandbox that, while `storm` is set, forwards each call and answers 502."""

    daemon_threads = True

    def __init__(self, port: int, target: str) -> None:
        """Listen on `port`, forwarding to `target`."""
        super().__init__(("127.0.0.1", port), _Forward)
        self.target = target
        self.storm = threading.Event()
        self.lost = 0


class _Forward(BaseHTTPRequestHandler):
    """Forward one request; lose the answer during a storm."""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        """Forward the POST as it came; answer the gateway's reply, or 502 during a storm."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = requests.post(f"{self.server.target}{self.path}", data=body, headers=headers, timeout=30)
        status, payload = answer.status_code, answer.content
        if self.server.storm.is_set():
            self.server.lost += 1
            status, payload = 502, b"Bad Gateway"
        self.send_response(status)
        self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args) -> None:
        """Quiet."""


def _account(url: str, honours: bool) -> dict:
    """An Africa's Talking-dialect account on one sandbox."""
    return {"provider": "africastalking", "base_url": url, "username": "sandbox", "api_key": "sandbox-key",
            "webhook_secret": WEBHOOK_SECRET, "honours_idempotency_key": honours}


@pytest.fixture(scope="module")
def storm_stack(database_url, redis_url, tmp_path_factory):
    """API and workers routing Zambia over `primary` (behind the proxy, honouring keys), then `backup`."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("storm")), SANDBOX_DLR_URL="",
                    HERALD_RATE_LIMITS=f"primary={RATE},backup={RATE}", HERALD_PINNED_RETRY_WAIT_SECONDS=20,
                    HERALD_BATCH_SIZE=50)
    proxy = LostAnswers(free_port(), running.sandbox_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    backup_port = free_port()
    backup_url = f"http://127.0.0.1:{backup_port}"
    running.env.update(
        HERALD_ACCOUNTS=json.dumps({"primary": _account(f"http://127.0.0.1:{proxy.server_port}", True),
                                    "backup": _account(backup_url, False)}),
        HERALD_SMS_PROVIDER="backup", HERALD_ROUTES=json.dumps(ROUTES))
    running._start("sandbox-backup", [sys.executable, "-m", "sandbox", "--port", str(backup_port)])
    try:
        wait_http(f"{backup_url}/_sandbox/config")
        running.start_all()
        yield running, backup_url, proxy
    finally:
        running.stop()
        proxy.shutdown()


def _ledger(url: str) -> dict:
    """One sandbox's ledger, per recipient."""
    response = requests.get(f"{url}/_sandbox/ledger", timeout=30)
    response.raise_for_status()
    return response.json()


def test_a_502_storm_on_the_primary_sends_no_retry_through_the_backup(storm_stack, app, redis_url):
    running, backup_url, proxy = storm_stack
    truncate_all(app, redis_url)
    key = make_service(app, "storm-programme")
    for url in (running.sandbox_url, backup_url):
        requests.post(f"{url}/_sandbox/reset", timeout=30).raise_for_status()
        requests.post(f"{url}/_sandbox/config", json={"honour_idempotency": False}, timeout=30).raise_for_status()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key.key}"
    proxy.storm.set()
    created = api.post(f"{running.api_url}/v1/broadcasts", timeout=60, json={
        "channel": "sms", "body": "Storm check", "recipients": [{"to": n} for n in NUMBERS]})
    assert created.status_code == 202, created.text
    broadcast_id = created.json()["id"]
    wait_until(lambda: proxy.lost >= 5, 20, 0.1, "the storm to lose answers")
    threading.Timer(STORM_S, proxy.storm.clear).start()
    final = wait_until(lambda: (lambda s: s if s["status"] == "completed" else None)(
        api.get(f"{running.api_url}/v1/broadcasts/{broadcast_id}", timeout=30).json()), 55, 0.5,
        "the broadcast to complete")
    primary, backup = _ledger(running.sandbox_url), _ledger(backup_url)
    lost_at_primary = set(primary["by_recipient"])
    through_backup = lost_at_primary & set(backup["by_recipient"])
    letters = api.get(f"{running.api_url}/v1/dead-letters", timeout=30).json()["dead_letters"]
    print(f"\n502 storm: {proxy.lost} answers lost; primary took {len(lost_at_primary)} recipients "
          f"({primary['accepted']} calls), backup {backup['accepted']}; retried through the backup: "
          f"{len(through_backup)}; dead letters {len(letters)} {sorted({d['error_code'] for d in letters})}; "
          f"counts {final['counts']}")
    assert proxy.lost > 0 and backup["accepted"] > 0
    assert through_backup == set()
    assert lost_at_primary | set(backup["by_recipient"]) == set(NUMBERS)
    assert all(d["reason"] == "outcome_unknown" for d in letters)
