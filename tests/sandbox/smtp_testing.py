"""A real `python -m sandbox --smtp-port` (STARTTLS offered with a throwaway CA), a client for its
control API, and a receiver for the events it posts."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import trustme

REPO = Path(__file__).resolve().parents[2]
SMTP_USER = "herald"
SMTP_PASSWORD = "mail-secret"
START_TIMEOUT_S = 20.0
# Restored before every test so fault settings never leak from one test into the next.
DEFAULT_CONFIG = {"smtp_auth_required": False, "smtp_rcpt_temp_rate": 0.0, "smtp_rcpt_perm_rate": 0.0,
                  "smtp_address_replies": {}, "smtp_drop_after_data_rate": 0.0,
                  "smtp_max_messages_per_connection": 0, "smtp_events_url": "", "dlr_delay_ms": 20}


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


class MtaSandbox:
    """The sandbox's HTTP control API plus where its SMTP server listens and the CA its certificate chains to."""

    def __init__(self, http_port: int, smtp_port: int, ca_file: str) -> None:
        """A client with its own keep-alive session."""
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.smtp_port = smtp_port
        self.ca_file = ca_file
        self.http = requests.Session()

    def settings(self, **overrides) -> dict:
        """SMTP adapter settings aimed at this server (plain, authenticated), with short timeouts."""
        return {"host": "127.0.0.1", "port": self.smtp_port, "starttls": False, "username": SMTP_USER,
                "password": SMTP_PASSWORD, "from_address": "news@herald.test", "from_name": "Herald News",
                "connect_timeout": 2.0, "reply_timeout": 2.0, "data_timeout": 2.0, **overrides}

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
        """GET /_sandbox/ledger (with the "smtp" counters)."""
        response = self.http.get(f"{self.base_url}/_sandbox/ledger", timeout=10)
        response.raise_for_status()
        return response.json()

    def messages(self) -> list[dict]:
        """Every message the SMTP server kept, oldest first."""
        response = self.http.get(f"{self.base_url}/_sandbox/smtp/messages", timeout=10)
        response.raise_for_status()
        return response.json()["messages"]

    def event_key(self) -> str:
        """The events' verification key, from SendGrid's path."""
        response = self.http.get(f"{self.base_url}/v3/user/webhooks/event/settings/signed", timeout=10)
        response.raise_for_status()
        return response.json()["public_key"]


def _answers(url: str) -> bool:
    """Whether the sandbox answers its config endpoint yet."""
    try:
        return requests.get(f"{url}/_sandbox/config", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_mta():
    """The sandbox with its SMTP server (STARTTLS offered for 127.0.0.1) on free loopback ports."""
    with tempfile.TemporaryDirectory() as folder:
        ca = trustme.CA()
        cert, key, ca_file = (os.path.join(folder, name) for name in ("cert.pem", "key.pem", "ca.pem"))
        issued = ca.issue_cert("127.0.0.1", "localhost")
        issued.cert_chain_pems[0].write_to_path(cert)
        for pem in issued.cert_chain_pems[1:]:
            pem.write_to_path(cert, append=True)
        issued.private_key_pem.write_to_path(key)
        ca.cert_pem.write_to_path(ca_file)
        http_port, smtp_port = free_port(), free_port()
        env = dict(os.environ, SANDBOX_SMTP_USERNAME=SMTP_USER, SANDBOX_SMTP_PASSWORD=SMTP_PASSWORD,
                   SANDBOX_SEED="7")
        command = [sys.executable, "-m", "sandbox", "--port", str(http_port), "--smtp-port", str(smtp_port),
                   "--smtp-tls-cert", cert, "--smtp-tls-key", key]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
            sandbox = MtaSandbox(http_port, smtp_port, ca_file)
            try:
                if not poll_until(lambda: process.poll() is None and _answers(sandbox.base_url), START_TIMEOUT_S,
                                  0.05):
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


class _Collect(BaseHTTPRequestHandler):
    """Keeps each POST's headers and raw body; answers 200."""

    def do_POST(self) -> None:
        """Store, then answer."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.keep({name.lower(): value for name, value in self.headers.items()}, body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        """Keep test output quiet."""


class EventReceiver(ThreadingHTTPServer):
    """A loopback HTTP server standing in for Herald's event webhook."""

    daemon_threads = True

    def __init__(self) -> None:
        """Listen on a free loopback port; nothing received yet."""
        super().__init__(("127.0.0.1", 0), _Collect)
        self._cond = threading.Condition()
        self.posts: list[tuple[dict, bytes]] = []

    @property
    def url(self) -> str:
        """Where the sandbox should post events."""
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/mail"

    def keep(self, headers: dict, body: bytes) -> None:
        """Keep one post and wake waiters."""
        with self._cond:
            self.posts.append((headers, body))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[tuple[dict, bytes]]:
        """Wait (bounded) until at least `count` posts arrived; return what arrived."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.posts) < count and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.posts)

    def events(self) -> list[dict]:
        """Every event received so far, in arrival order."""
        with self._cond:
            return [event for _, body in self.posts for event in json.loads(body)]


@contextlib.contextmanager
def receiving_events():
    """A running EventReceiver, shut down afterwards."""
    receiver = EventReceiver()
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)
