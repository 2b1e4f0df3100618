"""A scripted loopback Africa's Talking gateway and small builders for adapter tests."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs

from providers.base import OutboundMessage


@dataclass
class Reply:
    """What the scripted gateway answers to one request."""

    status: int = 201
    body: object = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Recorded:
    """One request as the gateway received it."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    client_port: int

    @property
    def form(self) -> dict[str, list[str]]:
        """The form body decoded the way a server would."""
        return parse_qs(self.raw_body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


def at_response(*recipients: dict, message: str = "Sent to 1/1 Total Cost: ZMW 0.2500") -> dict:
    """An Africa's Talking send response carrying `recipients`."""
    return {"SMSMessageData": {"Message": message, "Recipients": list(recipients)}}


def at_recipient(number: str, code: int = 101, status: str = "Success", **extra: object) -> dict:
    """One recipient entry as AT writes it; accepted by default."""
    entry = {
        "statusCode": code,
        "number": number,
        "status": status,
        "cost": "ZMW 0.2500",
        "messageId": f"ATXid_{number.lstrip('+')}",
        "messageParts": 1,
    }
    entry.update(extra)
    return entry


def echo_accepted(request: Recorded) -> Reply:
    """Accept every number of the request, in the order given."""
    numbers = request.form["to"][0].split(",")
    return Reply(201, at_response(*(at_recipient(n) for n in numbers)))


class _GatewayServer(ThreadingHTTPServer):
    """Threaded server that neither waits for idle keep-alive threads nor prints client hang-ups."""

    daemon_threads = True
    # Handler threads parked on idle keep-alive sockets must not hold up teardown.
    block_on_close = False
    gateway: "ScriptedGateway"

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-answer are part of the scripts, not errors."""


class _Handler(BaseHTTPRequestHandler):
    """Records each request and answers from the gateway's current script."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection is dropped after this many seconds
    # Headers and body go out in two writes; without this each answer waits on a delayed ACK.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        """Record, then answer as scripted."""
        self._record_and_answer("POST")

    def do_GET(self) -> None:
        """Record, then answer as scripted (the adapter's probe)."""
        self._record_and_answer("GET")

    def _record_and_answer(self, method: str) -> None:
        """Record one request, then answer it as scripted."""
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        gateway = self.server.gateway
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Recorded(method, self.path, headers, raw, self.client_address[1])
        with gateway.lock:
            gateway.requests.append(request)
        reply = gateway.reply(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        """Write one complete keep-alive response."""
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


class ScriptedGateway:
    """A loopback HTTP/1.1 gateway whose answers the test scripts."""

    def __init__(self) -> None:
        """Bind an ephemeral loopback port; answer with echo_accepted until told otherwise."""
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.reply: Callable[[Recorded], Reply] = echo_accepted
        self._server = _GatewayServer(("127.0.0.1", 0), _Handler)
        self._server.gateway = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        """Base URL adapters should be given."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, reply: Reply) -> None:
        """Answer every following request with the same reply."""
        self.reply = lambda request: Reply(reply.status, reply.body, dict(reply.headers), reply.delay, reply.drop)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def message(
    number: str = "+260971234567",
    body: str = "Hello",
    key: str | None = None,
    message_id: int = 1,
    sender: str | None = None,
) -> OutboundMessage:
    """An outbound message with sensible defaults."""
    idempotency_key = key or f"key-{message_id}"
    return OutboundMessage(message_id=message_id, to=number, body=body, idempotency_key=idempotency_key, sender=sender)
