"""Fixtures: a real sandbox process, a client for it, and a delivery-report receiver."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from herald_testing import serving

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key"
USERNAME = "tester"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
# Defaults restored before every test, so tests do not leak settings into each other.
DEFAULT_CONFIG = {
    "latency_ms": 0,
    "temp_failure_rate": 0.0,
    "http_error_rate": 0.0,
    "rate_limit_per_s": 0,
    "honour_idempotency": True,
    "dlr_url": "",
    "dlr_delay_ms": 50,
}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def poll_until(predicate, timeout_s: float, interval_s: float = 0.05):
    """Poll `predicate` until it returns something truthy or time runs out; return its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


class SandboxClient:
    """Thin helpers over the sandbox's HTTP API."""

    api_key = API_KEY
    username = USERNAME

    def __init__(self, base_url: str) -> None:
        """A client with its own keep-alive session."""
        self.base_url = base_url
        self.http = requests.Session()

    def send(self, to, message="Hello from Herald", keys=None, api_key=API_KEY, username=USERNAME, **extra):
        """POST /version1/messaging the way Herald's AT adapter does."""
        headers = {"apiKey": api_key, "Accept": "application/json"}
        if keys is not None:
            headers["Idempotency-Key"] = keys if isinstance(keys, str) else ",".join(keys)
        form = {"username": username, "to": to if isinstance(to, str) else ",".join(to), "message": message}
        form.update(extra)
        return self.http.post(f"{self.base_url}/version1/messaging", data=form, headers=headers, timeout=10)

    def configure(self, **changes) -> requests.Response:
        """POST /_sandbox/config."""
        return self.http.post(f"{self.base_url}/_sandbox/config", json=changes, timeout=10)

    def reset(self) -> None:
        """POST /_sandbox/reset."""
        self.http.post(f"{self.base_url}/_sandbox/reset", timeout=10).raise_for_status()

    def ledger(self, detail: bool = True) -> dict:
        """GET /_sandbox/ledger."""
        params = {} if detail else {"detail": "0"}
        response = self.http.get(f"{self.base_url}/_sandbox/ledger", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def events(self, **params) -> dict:
        """GET /_sandbox/events."""
        response = self.http.get(f"{self.base_url}/_sandbox/events", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


def _answers(base_url: str) -> bool:
    """Whether the sandbox answers its config endpoint yet."""
    try:
        return requests.get(f"{base_url}/_sandbox/config", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def sandbox_url():
    """A real `python -m sandbox` on a free loopback port, for this module's tests."""
    port = free_port()
    env = dict(os.environ, SANDBOX_API_KEY=API_KEY, SANDBOX_USERNAME=USERNAME, SANDBOX_SEED="7")
    log = tempfile.TemporaryFile()
    command = [sys.executable, "-m", "sandbox", "--port", str(port), "--threads", "8"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not poll_until(lambda: process.poll() is None and _answers(base_url), START_TIMEOUT_S):
            log.seek(0)
            pytest.fail(f"sandbox did not start:\n{log.read().decode(errors='replace')}")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        log.close()


@pytest.fixture
def wait_until():
    """The bounded polling helper, for tests that wait on the sandbox's background work."""
    return poll_until


@pytest.fixture
def sandbox(sandbox_url) -> SandboxClient:
    """A client for the module's sandbox, reset and back on default settings."""
    client = SandboxClient(sandbox_url)
    client.configure(**DEFAULT_CONFIG).raise_for_status()
    client.reset()
    yield client
    client.http.close()


class _Collector(BaseHTTPRequestHandler):
    """Records each POSTed form; answers with the status the server is told to use."""

    def do_POST(self) -> None:
        """Store the form, then answer."""
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        status = self.server.next_status()
        if status < 300:
            self.server.record(form)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        """Keep test output quiet."""


class ReportReceiver(ThreadingHTTPServer):
    """A loopback HTTP server standing in for Herald's delivery-report webhook."""

    daemon_threads = True

    def __init__(self) -> None:
        """Listen on a free loopback port; nothing received yet."""
        super().__init__(("127.0.0.1", 0), _Collector)
        self._cond = threading.Condition()
        self.reports: list[dict] = []
        self.failures_to_give = 0

    @property
    def url(self) -> str:
        """Where the sandbox should post reports."""
        return f"http://127.0.0.1:{self.server_address[1]}/dlr"

    def next_status(self) -> int:
        """500 while scripted failures remain, else 200."""
        with self._cond:
            if self.failures_to_give > 0:
                self.failures_to_give -= 1
                return 500
            return 200

    def record(self, form: dict) -> None:
        """Keep a received report and wake waiters."""
        with self._cond:
            self.reports.append(form)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[dict]:
        """Wait (bounded) until at least `count` reports arrived; return what arrived."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.reports) < count and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.reports)


@pytest.fixture
def receiver():
    """A running ReportReceiver, shut down after the test."""
    with serving(ReportReceiver()) as server:
        yield server
