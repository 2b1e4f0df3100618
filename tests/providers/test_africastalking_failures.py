"""Africa's Talking adapter against a scripted loopback gateway: HTTP-level outcomes and transport failures."""
from __future__ import annotations

import ssl
import time
from email.utils import formatdate
from http.client import RemoteDisconnected

import pytest

from at_gateway import Reply, at_recipient, at_response, message
from providers.africastalking import AfricasTalkingSMS
from providers.base import (Accepted, SendError, GatewayRejected, NotSent, PermanentError, RateLimited, TemporaryError,
                            UnknownOutcome)

NUMBER = "+260971234567"


# ---- HTTP-level outcomes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Retry-After-Ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": "7"}, 7.0),
        ({}, None),
    ],
)
def test_429_is_rate_limited_with_the_retry_hint(gateway, make_adapter, headers, expected):
    gateway.answer(Reply(429, b"slow down", headers=headers))

    with pytest.raises(RateLimited) as caught:
        make_adapter().send(message())
    assert caught.value.retry_after == expected


def test_429_retry_after_as_an_http_date(gateway, make_adapter):
    gateway.answer(Reply(429, b"", headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}))

    with pytest.raises(RateLimited) as caught:
        make_adapter().send(message())
    assert 25 <= caught.value.retry_after <= 31


@pytest.mark.parametrize(
    ("status", "kind", "code", "fault"),
    [
        (401, GatewayRejected, "gateway_auth", "rejected"),
        (403, GatewayRejected, "gateway_auth", "rejected"),
        (404, GatewayRejected, "gateway_http_404", "rejected"),
        (301, GatewayRejected, "gateway_http_301", "rejected"),
        (500, TemporaryError, "gateway_http_500", "down"),
        (503, TemporaryError, "gateway_http_503", "down"),
        (502, UnknownOutcome, "gateway_http_502", "down"),
        (504, UnknownOutcome, "gateway_http_504", "down"),
        (408, TemporaryError, "gateway_http_408", None),
        (429, RateLimited, "rate_limited", None),
        (400, PermanentError, "gateway_http_400", None),
    ],
)
def test_request_level_answers_map_to_a_type_and_a_gateway_fault(gateway, make_adapter, status, kind, code, fault):
    gateway.answer(Reply(status, b"The supplied authentication is invalid", headers={"Content-Type": "text/plain"}))

    with pytest.raises(SendError) as caught:
        make_adapter().send(message())
    # Exact types: a 502 must not pass as a plain TemporaryError, which would be resent.
    assert type(caught.value) is kind
    assert caught.value.code == code
    assert caught.value.gateway_fault == fault


def test_other_client_errors_are_permanent_with_a_body_excerpt(gateway, make_adapter):
    gateway.answer(Reply(400, b"Invalid phone number: " + b"x" * 500, headers={"Content-Type": "text/plain"}))

    with pytest.raises(PermanentError) as caught:
        make_adapter().send(message())
    assert caught.value.code == "gateway_http_400"
    assert caught.value.detail.startswith("Invalid phone number")
    assert len(caught.value.detail) <= 200


@pytest.mark.parametrize("body", [b"<html>proxy page</html>", b'{"SMSMessageData": {}}', b"[]"])
def test_unreadable_2xx_body_is_an_unknown_outcome(gateway, make_adapter, body):
    gateway.answer(Reply(201, body))

    with pytest.raises(UnknownOutcome) as caught:
        make_adapter().send(message())
    assert caught.value.code == "unparseable_response"


# ---- transport failures -------------------------------------------------------------------


def test_read_timeout_is_an_unknown_outcome(gateway, make_adapter):
    gateway.answer(Reply(201, b"{}", delay=0.5))
    adapter = make_adapter(read_timeout=0.1)

    with pytest.raises(UnknownOutcome) as caught:
        adapter.send(message())
    # Waiting out the delay would have produced an unparseable_response instead.
    assert caught.value.code == "read_timeout"


def test_connection_closed_without_an_answer_is_an_unknown_outcome(gateway, make_adapter):
    gateway.answer(Reply(drop=True))

    with pytest.raises(UnknownOutcome) as caught:
        make_adapter().send(message())
    assert caught.value.code == "connection_lost"
    assert len(gateway.requests) == 1


def test_refused_connection_is_not_sent(closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    adapter = AfricasTalkingSMS(base_url=url, username="u", api_key="k", connect_timeout=0.5)

    with pytest.raises(NotSent) as caught:
        adapter.send(message())
    assert caught.value.code == "connect_failed"
    assert caught.value.gateway_fault == "down"


def test_no_retry_happens_inside_the_adapter(gateway, make_adapter):
    gateway.answer(Reply(drop=True))

    with pytest.raises(UnknownOutcome):
        make_adapter().send(message())
    assert len(gateway.requests) == 1


def test_adapter_recovers_after_a_dropped_connection(gateway, make_adapter):
    adapter = make_adapter()
    gateway.answer(Reply(drop=True))
    with pytest.raises(UnknownOutcome):
        adapter.send(message())

    gateway.reply = lambda request: Reply(201, at_response(at_recipient(NUMBER)))
    assert isinstance(adapter.send(message(NUMBER)), Accepted)


class _StubSocket:
    """A socket whose write or read fails as scripted."""

    def __init__(self, send_error: BaseException | None, recv_error: BaseException | None) -> None:
        """Remember the scripted failures."""
        self._send_error = send_error
        self._recv_error = recv_error

    def settimeout(self, _seconds: float) -> None:
        """Timeouts do not matter to a scripted socket."""

    def sendall(self, _data: bytes) -> None:
        """Fail the write if scripted to."""
        if self._send_error is not None:
            raise self._send_error

    def recv(self, _size: int) -> bytes:
        """Fail the read as scripted."""
        raise self._recv_error


class _StubConnection:
    """A connection whose connect, write or read fails as scripted."""

    def __init__(
        self,
        *,
        connected: bool,
        request_error: BaseException | None = None,
        response_error: BaseException | None = None,
    ) -> None:
        """Script which step fails and whether the connection looks already open."""
        self._socket = _StubSocket(request_error if connected else None, response_error)
        self._connect_error = None if connected else request_error
        self.sock = self._socket if connected else None
        self.is_connected = connected
        self.closed = False

    def connect(self) -> None:
        """Fail to connect if scripted to."""
        if self._connect_error is not None:
            raise self._connect_error
        self.sock = self._socket

    def close(self) -> None:
        """Remember the close."""
        self.closed = True


def _send_through(adapter: AfricasTalkingSMS, stub: _StubConnection) -> BaseException:
    """Send one message over `stub` and return what was raised."""
    if stub.sock is not None:
        adapter._connections().give_back(stub)
    else:
        adapter._transport.new_connection = lambda: stub
    with pytest.raises(Exception) as caught:
        adapter.send(message())
    assert stub.closed
    return caught.value


@pytest.mark.parametrize(
    ("stub", "kind", "code"),
    [
        (_StubConnection(connected=False, request_error=ConnectionResetError()), NotSent, "connect_failed"),
        (_StubConnection(connected=False, request_error=TimeoutError()), NotSent, "connect_failed"),
        (_StubConnection(connected=False, request_error=ssl.SSLCertVerificationError()), NotSent, "tls_failed"),
        (_StubConnection(connected=True, request_error=BrokenPipeError()), TemporaryError, "send_failed"),
        (_StubConnection(connected=True, response_error=TimeoutError()), UnknownOutcome, "read_timeout"),
        (_StubConnection(connected=True, response_error=RemoteDisconnected()), UnknownOutcome, "connection_lost"),
        (_StubConnection(connected=True, response_error=ConnectionResetError()), UnknownOutcome, "connection_lost"),
    ],
)
def test_failure_phase_decides_between_temporary_and_unknown(stub, kind, code):
    adapter = AfricasTalkingSMS(base_url="http://127.0.0.1:9", username="u", api_key="k")

    error = _send_through(adapter, stub)

    assert type(error) is kind
    assert error.code == code


# ---- probe -----------------------------------------------------------------------------------


def test_probe_gets_the_user_data_endpoint_with_the_key(gateway, make_adapter):
    gateway.answer(Reply(200, {"UserData": {"balance": "ZMW 1250.0000"}}))

    assert make_adapter().probe() is None
    request = gateway.requests[-1]
    assert (request.method, request.path) == ("GET", "/version1/user?username=herald")
    assert request.headers["apikey"] == "test-key"


@pytest.mark.parametrize(
    ("reply", "kind", "fault"),
    [
        (Reply(401, b"The supplied authentication is invalid"), GatewayRejected, "rejected"),
        (Reply(404, b"not found"), GatewayRejected, "rejected"),
        (Reply(503, b"down"), TemporaryError, "down"),
        (Reply(200, b"<html>captive portal</html>"), UnknownOutcome, None),
    ],
)
def test_probe_raises_what_a_send_would_have_met(gateway, make_adapter, reply, kind, fault):
    gateway.answer(reply)

    with pytest.raises(SendError) as caught:
        make_adapter().probe()
    assert type(caught.value) is kind
    assert caught.value.gateway_fault == fault


def test_probe_of_a_closed_port_is_not_sent(closed_port):
    adapter = AfricasTalkingSMS(base_url=f"http://127.0.0.1:{closed_port}", username="u", api_key="k")

    with pytest.raises(NotSent):
        adapter.probe()
