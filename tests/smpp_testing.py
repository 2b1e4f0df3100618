"""A real `python -m sandbox --smpp-port` for SMPP tests and the bench, and a client for its control API."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
SYSTEM_ID = "herald"
PASSWORD = "secret"
START_TIMEOUT_S = 20.0
# Restored before every test so fault settings never leak from one test into the next.
DEFAULT_CONFIG = {"latency_ms": 0, "dlr_delay_ms": 50, "smpp_throttle_per_s": 0, "smpp_syserr_rate": 0.0,
                  "smpp_drop_every_n": 0, "smpp_drop_once": False, "smpp_cut_after_n": 0,
                  "smpp_cut_refuse_s": 0.0, "smpp_bindfail_s": 0.0, "smpp_receipts": True}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def poll_until(predicate, timeout_s: float, interval_s: float = 0.02):
    """Poll `predicate` until truthy or time runs out; return its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


class Receipts:
    """An on_receipts callback that keeps what it is given, or fails while told to."""

    def __init__(self) -> None:
        """Nothing kept, no failures scripted."""
        self.reports = []
        self.failures = 0
        self.calls = 0
        # Seconds each call takes before storing, as a slow database would.
        self.delay_s = 0.0
        self.lock = threading.Lock()

    def __call__(self, reports) -> None:
        """Store (after delay_s), or raise while scripted failures remain."""
        time.sleep(self.delay_s)
        with self.lock:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database down")
            self.reports.extend(reports)


class SmscSandbox:
    """The sandbox's HTTP control API plus where its SMSC listens."""

    def __init__(self, http_port: int, smpp_port: int, pid: int = 0) -> None:
        """A client with its own keep-alive session; `pid` is the sandbox process's."""
        self.pid = pid
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.smpp_port = smpp_port
        self.http = requests.Session()

    def settings(self, **overrides) -> dict:
        """Adapter settings aimed at this SMSC, with short timeouts for tests."""
        return {"host": "127.0.0.1", "port": self.smpp_port, "system_id": SYSTEM_ID, "password": PASSWORD,
                "source_addr": "HERALD", "connect_timeout": 2.0, "response_timeout": 3.0,
                "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, **overrides}

    def configure(self, **changes) -> dict:
        """POST /_sandbox/config; raise on a refusal."""
        response = self.http.post(f"{self.base_url}/_sandbox/config", json=changes, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Default settings, empty ledger."""
        self.configure(**DEFAULT_CONFIG)
        self.http.post(f"{self.base_url}/_sandbox/reset", timeout=10).raise_for_status()

    def ledger(self) -> dict:
        """GET /_sandbox/ledger (with the "smpp" counters)."""
        response = self.http.get(f"{self.base_url}/_sandbox/ledger", timeout=10)
        response.raise_for_status()
        return response.json()


def _answers(url: str) -> bool:
    """Whether the sandbox answers its config endpoint yet."""
    try:
        return requests.get(f"{url}/_sandbox/config", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_smsc():
    """Start the sandbox with its SMPP server on free loopback ports; stop it afterwards."""
    http_port, smpp_port = free_port(), free_port()
    env = dict(os.environ, SANDBOX_SMPP_SYSTEM_ID=SYSTEM_ID, SANDBOX_SMPP_PASSWORD=PASSWORD, SANDBOX_SEED="7")
    log = tempfile.TemporaryFile()
    command = [sys.executable, "-m", "sandbox", "--port", str(http_port), "--smpp-port", str(smpp_port)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    sandbox = SmscSandbox(http_port, smpp_port, process.pid)
    try:
        if not poll_until(lambda: process.poll() is None and _answers(sandbox.base_url), START_TIMEOUT_S, 0.05):
            log.seek(0)
            raise RuntimeError(f"sandbox did not start:\n{log.read().decode(errors='replace')}")
        yield sandbox
    finally:
        sandbox.http.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
