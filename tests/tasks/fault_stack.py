"""A whole Herald stack on PostgreSQL and Redis servers of its own, so a fault test may stop them.

The shared embedded servers stay untouched: this starts a second embedded
PostgreSQL and Redis under a temporary directory, migrates, runs the stack's
processes against them, and talks to Herald over HTTP only, as an operator does.
"""
from __future__ import annotations

import os
import signal
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
        """Start (or restart) Redis on the same port, with what its append-only file kept."""
        with _embedded_env(self.redis_port):
            self.redis_url = embedded_redis.ensure_redis(self.data_dir)

    def start_redis_empty(self) -> None:
        """Restart Redis having lost everything, as one run without persistence would."""
        for aof in embedded_redis.redis_dir(self.data_dir).glob("appendonly*"):
            aof.unlink()
        self.start_redis()

    def kill_redis(self) -> None:
        """SIGKILL Redis: what it had not written to its append-only file is gone."""
        _kill_now([int((embedded_redis.redis_dir(self.data_dir) / "redis.pid").read_text())])

    def kill_postgres(self) -> None:
        """SIGKILL the postmaster and every backend at once: no shutdown checkpoint, crash recovery next start."""
        pgdir = embedded_postgres.postgres_dir(self.data_dir)
        postmaster = psutil.Process(int((pgdir / "postmaster.pid").read_text().split()[0]))
        _kill_now([postmaster.pid] + [child.pid for child in postmaster.children(recursive=True)])

    def stop(self) -> None:
        """Stop both for good."""
        embedded_postgres.stop_postgres(self.data_dir)
        with _embedded_env(self.redis_port):
            embedded_redis.stop_redis(self.data_dir)


def _kill_now(pids: list[int]) -> None:
    """SIGKILL every listed process and wait until each is gone (or a zombie)."""
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    wait_until(lambda: all(gone(pid) for pid in pids), 10, 0.05, f"processes {pids} to die")


def power_cut(servers: PrivateServers, stack: Stack) -> None:
    """Every Herald process and both servers SIGKILLed at the same moment (the gateway lives on)."""
    herald = [name for name in stack.procs if name != "sandbox"]
    groups = [stack.procs[name].pid for name in herald if stack.procs[name].poll() is None]
    for pgid in groups:
        os.killpg(pgid, signal.SIGKILL)
    servers.kill_redis()
    servers.kill_postgres()
    for name in herald:
        stack.procs.pop(name).wait(timeout=20)


def power_back(servers: PrivateServers, stack: Stack) -> None:
    """`make up` after the cut: both servers, the API, the workers and beat."""
    servers.start_postgres()
    servers.start_redis()
    stack.start_api()
    stack.start_workers()


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

    def dead_letters(self, broadcast_id: str | None = None) -> list[dict]:
        """Every open dead letter of the service, or of one broadcast."""
        only = f"&broadcast_id={broadcast_id}" if broadcast_id else ""
        letters, after = [], 0
        for _page in range(1000):
            page = self.call("GET", f"/v1/dead-letters?limit=1000&after={after}{only}").json()
            letters += page["dead_letters"]
            after = page["next_after"]
            if after is None:
                return letters
        raise AssertionError("more than a million dead letters")


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


def wait_on_the_wire(stack: Stack, accepted: int, timeout: float = 60) -> dict:
    """Wait until the gateway has accepted `accepted` messages and holds calls unanswered right now."""
    wait_ledger(stack, accepted, timeout)
    return wait_until(lambda: (lambda led: led if led["in_flight"] else None)(stack.ledger()),
                      timeout, 0.002, "calls on the wire")


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
