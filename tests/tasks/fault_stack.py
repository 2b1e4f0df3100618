"""A whole Herald stack on PostgreSQL and Redis servers of its own, so a fault test may stop them.

The shared embedded servers stay untouched: this starts a second embedded
PostgreSQL and Redis under a temporary directory, migrates, runs the stack's
processes against them, and talks to Herald over HTTP only, as an operator does.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis
import requests
from herald_testing import ROOT, free_port, reset_database, wait_until

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import embedded_postgres  # noqa: E402
import embedded_redis  # noqa: E402

from scripts.testbed import Stack  # noqa: E402

_SERVER_VARS = ("DATABASE_URL", "REDIS_URL", embedded_redis.REDIS_PORT_ENV)


@contextmanager
def _embedded_env(redis_port: int):
    """Let the embedded starters pick their own servers instead of the suite's."""
    saved = {name: os.environ.pop(name, None) for name in _SERVER_VARS}
    os.environ[embedded_redis.REDIS_PORT_ENV] = str(redis_port)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


class PrivateServers:
    """An embedded PostgreSQL and Redis under one directory, each stoppable and restartable."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.redis_port = free_port()
        self.database_url = self.redis_url = ""

    def start(self) -> "PrivateServers":
        """Start both and migrate a fresh database."""
        self.start_postgres()
        self.start_redis()
        self.database_url = embedded_postgres.postgres_url(self.data_dir, "herald_test")
        reset_database(self.database_url)
        return self

    def start_postgres(self) -> None:
        """Start (or restart) PostgreSQL on the same socket."""
        with _embedded_env(self.redis_port):
            embedded_postgres.ensure_postgres(self.data_dir)

    def stop_postgres(self) -> None:
        """Stop PostgreSQL (fast shutdown: every connection is cut)."""
        embedded_postgres.stop_postgres(self.data_dir)

    def start_redis(self) -> None:
        """Start (or restart) Redis on the same port, empty."""
        with _embedded_env(self.redis_port):
            self.redis_url = embedded_redis.ensure_redis(self.data_dir)

    def kill_redis(self) -> None:
        """SIGKILL Redis: everything it held (broker queues, flags, journals, buckets) is gone."""
        pid = int((embedded_redis.redis_dir(self.data_dir) / "redis.pid").read_text())
        psutil.Process(pid).kill()
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   10, 0.05, "redis to die")

    def stop(self) -> None:
        """Stop both for good."""
        embedded_postgres.stop_postgres(self.data_dir)
        with _embedded_env(self.redis_port):
            embedded_redis.stop_redis(self.data_dir)


class Operator:
    """Herald's HTTP API as an operator uses it, with a service of its own."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.api_url
        out = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "herald", "create-service", "faults"],
                             cwd=ROOT, env=stack.env, check=True, capture_output=True, text=True, timeout=60).stdout
        fields = dict(line.split("=", 1) for line in out.split())
        self.headers = {"Authorization": f"Bearer {fields['api_key']}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """One API call."""
        return requests.request(method, f"{self.url}{path}", headers=self.headers, timeout=30, **kwargs)

    def broadcast(self, count: int, body: str = "Planting advisory: rains from Monday", **extra) -> str:
        """POST a broadcast of `count` recipients; return its id."""
        from herald_testing import recipients

        response = self.call("POST", "/v1/broadcasts", json={"channel": "sms", "body": body,
                                                               "recipients": recipients(count), **extra})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def summary(self, broadcast_id: str) -> dict | None:
        """GET the broadcast, or None while the API cannot answer (a server is down)."""
        try:
            response = self.call("GET", f"/v1/broadcasts/{broadcast_id}")
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_settled(self, broadcast_id: str, timeout: float) -> dict:
        """Wait until the broadcast completes, with nothing pending or processing."""
        def settled():
            summary = self.summary(broadcast_id)
            done = summary and summary["status"] == "completed"
            return summary if done and summary["counts"]["pending"] + summary["counts"]["processing"] == 0 else None
        return wait_until(settled, timeout, 0.5, f"broadcast {broadcast_id} to complete")

    def cancel_live_broadcasts(self) -> None:
        """Cancel whatever an earlier test left running, so it cannot send into this test's ledger."""
        live = [b["id"] for b in self.call("GET", "/v1/broadcasts?limit=500").json()["broadcasts"]
                if b["status"] in ("scheduled", "running", "paused")]
        for broadcast_id in live:
            self.call("POST", f"/v1/broadcasts/{broadcast_id}/cancel")
        if live:
            time.sleep(2.0)  # the lanes of batches in flight see the cancel at their next call

    def dead_letters(self) -> list[dict]:
        """Every open dead letter of the service."""
        return self.call("GET", "/v1/dead-letters?limit=1000").json()["dead_letters"]


def start_fault_stack(tmp_dir: str, **settings) -> tuple[PrivateServers, Stack]:
    """Private servers and a full stack on them (sandbox, API, bulk/control/priority workers, beat)."""
    servers = PrivateServers(Path(tmp_dir) / "servers").start()
    stack = Stack(servers.database_url, servers.redis_url, tmp_dir, **settings)
    stack.start_all()
    return servers, stack


SEND_MODES = {"per_message": "0", "bulk": "100"}


def use_mode(stack: Stack, mode: str) -> None:
    """Restart the workers sending one request per message, or bulk requests of 100, if not already."""
    if stack.env.get("AT_BULK_MAX", "0") != SEND_MODES[mode]:
        stack.env["AT_BULK_MAX"] = SEND_MODES[mode]
        stack.stop_workers()
        stack.start_workers()


def wait_ledger(stack: Stack, accepted: int, timeout: float = 60) -> dict:
    """Wait until the gateway has accepted at least `accepted` messages."""
    return wait_until(lambda: (lambda led: led if led["accepted"] >= accepted else None)(stack.ledger()),
                      timeout, 0.05, f"{accepted} accepted at the gateway")


def redis_flag(redis_url: str, broadcast_id: str) -> str | None:
    """The raw status flag Herald mirrors in Redis."""
    return redis.Redis.from_url(redis_url, decode_responses=True).get(f"herald:broadcast:{broadcast_id}:status")


def pause_for(seconds: float) -> None:
    """Hold a fault for a fixed time (the faults are timed by the issue, not by polling)."""
    time.sleep(seconds)
