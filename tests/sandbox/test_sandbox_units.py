"""In-process checks of the sandbox's pure parts: segments, carriers, numbers, bucket, events."""
from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from herald_testing import serving

from sandbox import config, recipients
from sandbox.carriers import AIRTEL, MTN, OTHER, ZAMTEL, carrier_for, format_cost
from sandbox.events import ACCEPTED, REPLAY, EventRing
from sandbox.poster import FormPoster
from sandbox.ratelimit import TokenBucket
from sandbox.reports import backoff, report_form
from providers.parts import count_segments
from sandbox import gateway as gateway_module


def test_the_sandbox_bills_with_herald_s_segment_counter():
    # One counter for both sides: '€ [ {' are GSM-7 extension characters (two septets), not UCS-2.
    assert gateway_module._count_parts("€[{" * 26) == 1
    assert gateway_module._count_parts("€[{" * 27) == 2
    assert gateway_module.count_segments is count_segments


@pytest.mark.parametrize(
    ("number", "carrier"),
    [
        ("+260961234567", MTN),
        ("+260761234567", MTN),
        ("+260971234567", AIRTEL),
        ("+260771234567", AIRTEL),
        ("+260951234567", ZAMTEL),
        ("+260751234567", ZAMTEL),
        ("+254711234567", OTHER),
    ],
)
def test_carrier_by_prefix(number, carrier):
    assert carrier_for(number) is carrier


def test_format_cost_has_four_decimals():
    assert format_cost("ZMW", 2_500) == "ZMW 0.2500"
    assert format_cost("ZMW", 12_345) == "ZMW 1.2345"
    assert format_cost("KES", 0) == "KES 0.0000"


@pytest.mark.parametrize(
    ("number", "plausible"),
    [("+26097123", True), ("+123456789012345", True), ("+1234567", False), ("+1234567890123456", False),
     ("260971234567", False), ("+26097123456a", False), ("+٢٦٠٩٧١٢٣٤٥٦٧", False), ("", False)],
)
def test_plausible_numbers(number, plausible):
    assert recipients.is_plausible(number) is plausible


def test_split_numbers_trims_spaces_and_empties():
    assert recipients.split_numbers(" +2609712345 ,+2609612345,, ") == ["+2609712345", "+2609612345"]


def test_report_outcomes_by_suffix():
    assert recipients.report_outcome("+260971888888") == recipients.FAILED
    assert recipients.report_outcome("+260971777777") == recipients.ABSENT
    assert recipients.report_outcome("+260971666666") is None
    assert recipients.report_outcome("+260971234567") == recipients.DELIVERED


def test_report_form_fields():
    form = report_form("ATXid_1", "+260971888888", "64501")
    assert form == (
        "id=ATXid_1&status=Failed&phoneNumber=%2B260971888888&networkCode=64501"
        "&retryCount=0&failureReason=DeliveryFailure"
    )
    assert report_form("ATXid_2", "+260971666666", "64501") is None


def test_backoff_doubles_and_caps():
    assert [backoff(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        """Start at an arbitrary time."""
        self.now = 100.0

    def __call__(self) -> float:
        """The current fake time."""
        return self.now


def test_token_bucket_bursts_then_refills():
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock)
    assert bucket.take(10) == 0.0
    assert bucket.take(1) == pytest.approx(0.1)
    clock.now += 0.5
    assert bucket.take(5) == 0.0
    assert bucket.take(3) == pytest.approx(0.3)


def test_token_bucket_never_holds_more_than_one_second():
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock)
    clock.now += 60
    assert bucket.take(4) == 0.0
    assert bucket.take(1) > 0


def test_token_bucket_zero_rate_is_unlimited():
    assert TokenBucket(0).take(1_000_000) == 0.0


def test_event_ring_wraps_and_keeps_order():
    ring = EventRing(capacity=3)
    times = [ring.stamp() for _ in range(5)]
    for index, when in enumerate(times):
        ring.add(when, f"+26097000000{index}", None, ACCEPTED)
    picked, more = ring.since(0.0, 10)
    assert [number for _, number, _, _ in picked] == ["+260970000002", "+260970000003", "+260970000004"]
    assert not more
    picked, more = ring.since(times[2], 1)
    assert [number for _, number, _, _ in picked] == ["+260970000003"]
    assert more


def test_event_stamps_strictly_increase():
    ring = EventRing()
    stamps = [ring.stamp() for _ in range(1000)]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    ring.add(stamps[0], "+260970000000", "k", REPLAY)
    assert ring.since(stamps[0], 5) == ([], False)


def test_environment_parsing():
    settings = config.from_environment(
        {"SANDBOX_LATENCY_MS": "25", "SANDBOX_HONOUR_IDEMPOTENCY": "0", "SANDBOX_SEED": "3"}
    )
    assert settings.latency_ms == 25.0
    assert settings.honour_idempotency is False
    assert settings.seed == 3
    assert settings.currency == "ZMW"
    assert "api_key" not in settings.public()


@pytest.mark.parametrize(
    "changes",
    [{"nope": 1}, {"latency_ms": "5"}, {"latency_ms": True}, {"temp_failure_rate": 1.5},
     {"rate_limit_per_s": -1}, {"honour_idempotency": "yes"}, {"dlr_url": "ftp://x"}, [], None],
)
def test_invalid_runtime_changes(changes):
    with pytest.raises(config.ConfigError):
        config.validate_changes(changes)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; drops idle connections quickly, as gunicorn does."""

    protocol_version = "HTTP/1.1"
    timeout = 0.2

    def do_POST(self) -> None:
        """Count the connection's requests and answer 204."""
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args) -> None:
        """Keep test output quiet."""


@pytest.fixture
def keepalive_server():
    """A loopback server that closes connections idle for 0.2 s."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    server.posts = []
    with serving(server):
        yield server


def test_poster_reuses_and_replaces_connections(keepalive_server):
    url = f"http://127.0.0.1:{keepalive_server.server_address[1]}/dlr?x=1"
    poster = FormPoster(timeout_s=5)
    try:
        assert poster.post(url, "a=1") and poster.post(url, "a=2")
        time.sleep(0.5)  # the server has closed the idle connection by now
        assert poster.post(url, "a=3")
    finally:
        poster.close()
    assert keepalive_server.posts == ["/dlr?x=1"] * 3


def test_poster_reports_refused_connections_as_failures():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    poster = FormPoster(timeout_s=2)
    assert poster.post(f"http://127.0.0.1:{port}/dlr", "a=1") is False
    assert poster.post("http://127.0.0.1:notaport/dlr", "a=1") is False
