"""A throwaway Herald stack in subprocesses (sandbox, API, workers, beat) for tests and benchmarks."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VENV_BIN = os.path.dirname(sys.executable)
WEBHOOK_SECRET = "test-secret"
# Everything but sending: producer ticks, delivery reports, dead letters, beat's maintenance.
CONTROL_QUEUES = "fanout,webhooks,dead_letter,maintenance"
# The bind credentials of the sandbox's SMSC (every stack's sandbox runs one).
SMPP_SYSTEM_ID = "herald"
SMPP_PASSWORD = "smsc-secret"


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Wait until a URL answers at all."""
    def answers():
        try:
            requests.get(url, timeout=1)
            return True
        except requests.RequestException:
            return False
    wait_until(answers, timeout, 0.2, f"{url} to answer")



def _libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg2 understands it."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


def scratch_database_url(name: str) -> str:
    """DATABASE_URL with the database renamed, for a run of its own."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        raise RuntimeError("DATABASE_URL is not set: run through `make test` / `make bench`")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def scratch_redis_url(db_number: int) -> str:
    """REDIS_URL with its own db number, emptied."""
    import redis

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    url = urlunsplit(urlsplit(base)._replace(path=f"/{db_number}"))
    redis.Redis.from_url(url).flushdb()
    return url


def reset_database(url: str) -> None:
    """Create the test database if needed, wipe its schema and migrate it to head."""
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(_libpq(admin))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    conn = psycopg2.connect(_libpq(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)

class Stack:
    """Starts and stops the processes of one pipeline test module."""

    def __init__(self, database_url: str, redis_url: str, tmp_dir: str, **settings) -> None:
        self.sandbox_port, self.api_port, self.smpp_port = free_port(), free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.tmp_dir = tmp_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ, "PYTHONPATH": ROOT, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "AT_BASE_URL": self.sandbox_url, "AT_USERNAME": "sandbox", "AT_API_KEY": "sandbox-key",
            "AT_HONOURS_IDEMPOTENCY_KEY": "1", "HERALD_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "HERALD_LEASE_SECONDS": "6", "HERALD_RETRY_BASE_SECONDS": "0.2", "HERALD_RETRY_MAX_SECONDS": "2",
            "HERALD_BATCH_SIZE": "200",
            "SANDBOX_DLR_URL": f"{self.api_url}/webhooks/africastalking/{WEBHOOK_SECRET}",
            "SANDBOX_DLR_DELAY_MS": "200",
            "SANDBOX_SMPP_SYSTEM_ID": SMPP_SYSTEM_ID, "SANDBOX_SMPP_PASSWORD": SMPP_PASSWORD,
        }
        self.env.update({k: str(v) for k, v in settings.items()})

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        """Start one process in its own session, logging to the tmp dir."""
        log = open(os.path.join(self.tmp_dir, f"{name}.log"), "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_sandbox(self) -> None:
        """The simulated gateway, its SMSC listening on smpp_port."""
        self._start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(self.sandbox_port),
                                "--smpp-port", str(self.smpp_port)])
        wait_http(f"{self.sandbox_url}/_sandbox/config")

    def smpp_account(self, **settings) -> dict:
        """A HERALD_ACCOUNTS entry of provider `smpp` bound to this stack's sandbox SMSC."""
        return {"provider": "smpp", "host": "127.0.0.1", "port": self.smpp_port, "system_id": SMPP_SYSTEM_ID,
                "password": SMPP_PASSWORD, "source_addr": "HERALD", **settings}

    def restart_api(self) -> None:
        """Stop the API and start it again, so it reads a changed environment (accounts, provider)."""
        self.kill("api")
        self.start_api()

    def start_api(self) -> None:
        """The API (gunicorn, as in production) for webhooks."""
        self._start("api", [os.path.join(VENV_BIN, "gunicorn"), "wsgi:app", "-k", "gthread", "--workers", "1",
                            "--threads", "8", "--bind", f"127.0.0.1:{self.api_port}"])
        wait_http(f"{self.api_url}/healthz")

    def start_worker(self, name: str = "worker", queues: str = "send_bulk", concurrency: int = 2) -> None:
        """A Celery worker process (prefork) on the given queues."""
        self._start(name, [os.path.join(VENV_BIN, "celery"), "-A", "tasks.celery_app", "worker", "-Q", queues,
                           "-c", str(concurrency), "-n", f"{name}-{os.getpid()}@%h", "--without-gossip",
                           "--without-mingle", "--loglevel", "INFO"])

    def start_beat(self) -> None:
        """Celery beat: the reconciler and the lease reaper."""
        schedule = os.path.join(self.tmp_dir, "beat-schedule")
        self._start("beat", [os.path.join(VENV_BIN, "celery"), "-A", "tasks.celery_app", "beat", "--schedule",
                             schedule, "--loglevel", "INFO"])

    def start_workers(self, bulk_workers: int = 1, concurrency: int = 2) -> None:
        """The production layout: bulk send worker(s), the control worker, the priority worker, beat."""
        for index in range(bulk_workers):
            self.start_worker("worker" if index == 0 else f"worker-{index}", concurrency=concurrency)
        self.start_worker("worker-control", queues=CONTROL_QUEUES, concurrency=2)
        self.start_worker("worker-priority", queues="send_priority", concurrency=1)
        self.start_beat()

    def stop_workers(self) -> None:
        """Stop every worker and beat."""
        for name in [n for n in self.procs if n.startswith("worker") or n == "beat"]:
            self.kill(name)

    def start_all(self, bulk_workers: int = 1, concurrency: int = 2) -> "Stack":
        """Sandbox, API, and every worker and beat."""
        self.start_sandbox()
        self.start_api()
        self.start_workers(bulk_workers, concurrency)
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process's whole group (a worker and its pool children) and reap it."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop everything: SIGTERM, then SIGKILL what lingers."""
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def sandbox(self, method: str, path: str, **kwargs):
        """Call the sandbox's control API."""
        response = requests.request(method, f"{self.sandbox_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def ledger(self) -> dict:
        """The sandbox's ledger with per-recipient counts."""
        return self.sandbox("GET", "/_sandbox/ledger")

    def wait_broadcast(self, client_get, broadcast_id: str, predicate, timeout: float):
        """Poll GET /v1/broadcasts/{id} until predicate(summary) holds."""
        return wait_until(lambda: (lambda s: s if predicate(s) else None)(client_get(broadcast_id)), timeout, 0.5,
                          f"broadcast {broadcast_id}")

