"""Every provider against the real sandbox process speaking its dialect: one table, the same faults.

The sandbox shares one ledger, dedup store, failure injection, scripted numbers and rate limit
between its dialects, so each row proves the adapter and the dialect agree on the wire.
"""
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

from providers import registry
from providers.base import (Accepted, OutboundMessage, PermanentError, Provider, RateLimited, TemporaryError,
                            UnknownOutcome, WebhookRequest)

REPO = Path(__file__).resolve().parents[2]
KEY = "test-key"
SECRET = "dlr-secret"
# The HTTP dialects the sandbox speaks; the SMSC dialect is tested in tests/providers/test_smpp.py,
# the SMTP server in tests/providers/test_smtp.py.
NAMES = sorted(name for name in registry.PROVIDER_CLASSES if name not in ("smpp", "smtp"))
# Per provider: its settings against the sandbox (`{url}`, `{reports}` filled in) and its invalid-number code.
ROWS = {
    "africastalking": ({"base_url": "{url}", "username": "tester", "api_key": KEY, "webhook_secret": SECRET,
                        "honours_idempotency_key": True}, "InvalidPhoneNumber"),
    "twilio": ({"base_url": "{url}", "account_sid": "ACsandbox", "auth_token": KEY, "sender": "+15005550006",
                "status_callback": "{reports}/twilio", "honours_idempotency_key": True}, "twilio_21211"),
    "infobip": ({"base_url": "{url}", "api_key": KEY, "sender": "HERALD", "webhook_secret": SECRET,
                 "notify_url": f"{{reports}}/infobip/{SECRET}", "honours_idempotency_key": True},
                "REJECTED_DESTINATION"),
}


def _free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sandbox_url():
    """A real `python -m sandbox` on a free loopback port."""
    port = _free_port()
    env = dict(os.environ, SANDBOX_API_KEY=KEY, SANDBOX_USERNAME="tester", SANDBOX_SEED="7")
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", str(port)], cwd=REPO, env=env,
                               stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # bounded: 20 s
            try:
                if requests.get(f"{url}/_sandbox/config", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            log.seek(0)
            pytest.fail(f"sandbox did not start: {log.read().decode(errors='replace')}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class _Receiver(ThreadingHTTPServer):
    """Herald's webhook stand-in: keeps every POST as a WebhookRequest."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Collect)
        self.posts: list[WebhookRequest] = []
        self.cond = threading.Condition()

    @property
    def url(self) -> str:
        """The base URL reports go under."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[WebhookRequest]:
        """Wait (bounded) until `count` posts arrived."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(self.posts) < count and time.monotonic() < deadline:
                self.cond.wait(max(0.0, deadline - time.monotonic()))
            return list(self.posts)


class _Collect(BaseHTTPRequestHandler):
    """Records a POST the way app/api/webhooks.py builds its request view."""

    def do_POST(self) -> None:
        """Keep the request, answer 200."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = dict(parse_qsl(body.decode())) if "form-urlencoded" in headers.get("content-type", "") else {}
        segments = self.path.strip("/").split("/")
        view = WebhookRequest("POST", self.server.url + self.path, headers, form, body,
                              path_secret=segments[1] if len(segments) > 1 else None)
        with self.server.cond:
            self.server.posts.append(view)
            self.server.cond.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        """Keep test output quiet."""


@pytest.fixture
def receiver():
    """A running report receiver."""
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_url, receiver):
    """Configure and reset the sandbox; return a function setting more of its config."""
    def configure(**changes) -> None:
        requests.post(f"{sandbox_url}/_sandbox/config", json=changes, timeout=5).raise_for_status()

    configure(latency_ms=0, http_error_rate=0.0, temp_failure_rate=0.0, rate_limit_per_s=0, dlr_delay_ms=20,
              honour_idempotency=True, dlr_url=f"{receiver.url}/africastalking/{SECRET}")
    requests.post(f"{sandbox_url}/_sandbox/reset", timeout=5).raise_for_status()
    return configure


@pytest.fixture
def adapter(sandbox_url, receiver):
    """Build provider `name` against the sandbox; closed afterwards."""
    built: list[Provider] = []

    def build(name: str, **overrides) -> Provider:
        settings = {k: (v.format(url=sandbox_url, reports=receiver.url) if isinstance(v, str) else v)
                    for k, v in ROWS[name][0].items()}
        provider = registry.build_account(f"{name}_sandbox", name, {**settings, **overrides})
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()


def ledger(sandbox_url: str) -> dict:
    """The sandbox's ledger."""
    return requests.get(f"{sandbox_url}/_sandbox/ledger", timeout=5).json()


def outbound(number: str = "+260961000001", key: str = "b1:1", body: str = "Rain expected") -> OutboundMessage:
    """One message."""
    return OutboundMessage(message_id=1, to=number, body=body, idempotency_key=key)


@pytest.mark.parametrize("name", NAMES)
def test_accepted_once_per_key_even_when_resent(name, sandbox, sandbox_url, adapter):
    provider = adapter(name)

    first, again = provider.send(outbound()), provider.send(outbound())

    assert isinstance(first, Accepted) and first.provider_message_id == again.provider_message_id
    assert ledger(sandbox_url)["by_key"] == {"b1:1": 1}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("number", ["+12", "+260961999999"], ids=["invalid", "blocked"])
def test_scripted_refusals_are_permanent(name, number, sandbox, adapter):
    with pytest.raises(PermanentError) as caught:
        adapter(name).send(outbound(number))
    if number == "+12":
        assert caught.value.code == ROWS[name][1]


@pytest.mark.parametrize("name", NAMES)
def test_an_outage_answer_is_temporary_and_the_gateway_down(name, sandbox, adapter):
    sandbox(http_error_rate=1.0)

    with pytest.raises(TemporaryError) as caught:
        adapter(name).send(outbound())
    assert caught.value.gateway_fault == "down" and not isinstance(caught.value, UnknownOutcome)


@pytest.mark.parametrize("name", NAMES)
def test_the_rate_limit_answers_rate_limited(name, sandbox, adapter):
    sandbox(rate_limit_per_s=1)
    provider = adapter(name)

    with pytest.raises(RateLimited) as caught:
        for index in range(5):  # the bucket holds one second of burst
            provider.send(outbound(f"+26096100000{index}", key=f"b1:{index}"))
    assert caught.value.retry_after and caught.value.retry_after > 0.5


@pytest.mark.parametrize("name", NAMES)
def test_an_answer_lost_after_the_request_was_written_is_unknown_yet_taken(name, sandbox, sandbox_url, adapter):
    sandbox(latency_ms=1500)

    with pytest.raises(UnknownOutcome) as caught:
        adapter(name, read_timeout=0.3).send(outbound())
    assert caught.value.code == "read_timeout" and ledger(sandbox_url)["by_key"] == {"b1:1": 1}


@pytest.mark.parametrize("name", NAMES)
def test_signed_reports_come_back_verify_and_parse_and_forged_ones_do_not(name, sandbox, adapter, receiver):
    provider = adapter(name)
    delivered = provider.send(outbound("+260961000001", key="b1:1"))
    absent = provider.send(outbound("+260961777777", key="b1:2"))

    # One callback per message (Infobip: one bulk callback per request, here one message each).
    posts = receiver.wait_for(2)
    assert all(provider.verify(post) for post in posts)
    reports = {r.provider_message_id: r for post in posts for r in provider.parse_reports(post)}

    assert reports[delivered.provider_message_id].status == "delivered"
    assert reports[absent.provider_message_id].status == "unreachable"
    forged = posts[0]
    tampered = WebhookRequest(forged.method, forged.url, {**forged.headers, "x-twilio-signature": "AAAA"},
                              {**forged.form, "MessageStatus": "failed"} if forged.form else {}, forged.body + b" ",
                              path_secret="guess" if forged.path_secret else None)
    assert not provider.verify(tampered)
