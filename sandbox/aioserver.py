"""The sandbox's default server: HTTP/1.1 with keep-alive on one asyncio event loop.

gunicorn's gthread worker spends ~0.8 ms of CPU per request on this class of
machine (its parsing and thread hand-offs, plus head and body written separately),
more than Herald spends sending the message, so a benchmark would measure the
simulator. This server parses only what the AT wire format needs, answers with
one write, and applies the configured latency with a timer instead of a thread.
`python -m sandbox --server gunicorn` still serves the same handlers with gthread.
"""
from __future__ import annotations

import asyncio
import io
import logging
import signal

from sandbox import responses as r
from sandbox.wsgi import SEND_ANSWERS, gateway, route

log = logging.getLogger("sandbox")
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
# Rebinding after an outage: how often, and how far apart, before giving up.
_REBIND_TRIES = 50
_REBIND_PAUSE_S = 0.1
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            413: "Payload Too Large", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            501: "Not Implemented", 503: "Service Unavailable"}


def _environ(method: str, target: str, headers: dict[str, str], body: bytes) -> dict:
    """The few WSGI environ keys the sandbox's handlers read."""
    path, _, query = target.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": headers.get("content-type", ""),
               "wsgi.input": io.BytesIO(body)}
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def dispatch(method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[r.Response, float]:
    """Run the route's handler; return its response and how long to hold it back."""
    environ = _environ(method, target, headers, body)
    handler = route(method, environ["PATH_INFO"])
    if handler is None:
        return r.error(404, "not found"), 0.0
    if handler in SEND_ANSWERS:
        return SEND_ANSWERS[handler](environ, gateway), gateway.settings.latency_ms / 1000.0
    return handler(environ, gateway), 0.0


def encode(response: r.Response, keep_alive: bool) -> bytes:
    """Status line, headers and body as one buffer."""
    status, headers, body = response
    code = int(status.split(" ", 1)[0])
    lines = [f"HTTP/1.1 {code} {status.split(' ', 1)[1] if ' ' in status else _REASONS.get(code, '')}"]
    lines += [f"{name}: {value}" for name, value in headers if name.lower() != "content-length"]
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HttpProtocol(asyncio.Protocol):
    """One client connection: requests answered strictly in order, one at a time."""

    def __init__(self, registry: set | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting = False
        self.dropping = False
        self.registry = registry if registry is not None else set()

    def connection_made(self, transport) -> None:
        """Remember the transport."""
        self.transport = transport
        self.registry.add(self)

    def drop(self) -> None:
        """Close for an outage: now if idle, else right after the answer already being held back.

        A request the gateway has taken is answered, as a server draining its connections
        would; only idle connections are cut, so no client is left guessing.
        """
        self.dropping = True
        if not self.waiting and self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Buffer bytes and answer every complete request."""
        self.buffer += data
        self.process()

    def process(self) -> None:
        """Answer buffered requests until one is incomplete or held back by latency."""
        while not self.waiting and not self.dropping and self.transport is not None \
                and not self.transport.is_closing():
            request = self._take_request()
            if request is None:
                return
            self._answer(*request)

    def _take_request(self):
        """Split one complete request off the buffer, or None."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._fail(431, "request head too large")
            return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._fail(400, "malformed request line")
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._fail(501, "chunked request bodies are not supported")
            return None
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY_BYTES:
            self._fail(413, "request body too large")
            return None
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        return method, target, headers, body, keep_alive

    def _answer(self, method: str, target: str, headers: dict, body: bytes, keep_alive: bool) -> None:
        """Write the answer now, or after the configured latency."""
        response, delay = dispatch(method, target, headers, body)
        data = encode(response, keep_alive)
        if delay <= 0:
            self._write(data, keep_alive)
            return
        self.waiting = True
        gateway.hold_answer(1)
        asyncio.get_running_loop().call_later(delay, self._write_later, data, keep_alive)

    def _write_later(self, data: bytes, keep_alive: bool) -> None:
        """Send a held-back answer, then carry on with buffered requests (or close, in an outage)."""
        gateway.hold_answer(-1)
        self.waiting = False
        self._write(data, keep_alive and not self.dropping)
        self.process()

    def _write(self, data: bytes, keep_alive: bool) -> None:
        """One write per answer; close afterwards if the client asked."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()

    def _fail(self, code: int, message: str) -> None:
        """Answer a request that cannot be parsed, and close."""
        self._write(encode(r.error(code, message), keep_alive=False), keep_alive=False)
        self.buffer.clear()

    def connection_lost(self, exc) -> None:
        """Forget the transport."""
        self.transport = None
        self.registry.discard(self)


class Listener:
    """The listening socket, which an outage closes and reopens on the same port by itself."""

    def __init__(self, host: str, port: int) -> None:
        """Not listening yet; `listen()` binds."""
        self.host, self.port = host, port
        self.server: asyncio.AbstractServer | None = None
        self.connections: set[HttpProtocol] = set()
        self.back_at = 0.0

    async def listen(self) -> None:
        """Bind and accept; retried briefly, since the port's old connections may still be closing."""
        loop = asyncio.get_running_loop()
        for attempt in range(_REBIND_TRIES):
            try:
                self.server = await loop.create_server(lambda: HttpProtocol(self.connections), self.host,
                                                       self.port, reuse_address=True, backlog=1024)
                return
            except OSError:
                if attempt == _REBIND_TRIES - 1:
                    raise
                await asyncio.sleep(_REBIND_PAUSE_S)

    def go_down(self, seconds: float) -> None:
        """From the event loop's next turn: refuse connections for `seconds`, then listen again."""
        loop = asyncio.get_running_loop()
        loop.call_soon(self._close, loop, seconds)

    def _close(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Stop listening, drop kept-alive connections, and schedule the return."""
        self.back_at = max(self.back_at, loop.time() + seconds)
        if self.server is None:
            return  # already down: the later return time above wins
        self.server.close()
        self.server = None
        for connection in list(self.connections):
            connection.drop()
        log.warning("sandbox down for %.1f s (connections refused)", seconds)
        loop.call_later(seconds, self._maybe_return, loop)

    def _maybe_return(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen again once the latest requested outage is over."""
        if self.server is not None:
            return
        wait = self.back_at - loop.time()
        if wait > 0:
            loop.call_later(wait, self._maybe_return, loop)
            return
        loop.create_task(self._return())

    async def _return(self) -> None:
        """Reopen the port; the ledger and every other state were kept meanwhile."""
        await self.listen()
        log.warning("sandbox listening again on http://%s:%d", self.host, self.port)


async def serve(host: str, port: int, smpp_port: int = 0, smtp_port: int = 0, smtp_tls=None) -> None:
    """Listen (with the SMPP and SMTP servers when their ports are set) until SIGTERM or SIGINT, then stop the report senders.

    `smtp_tls` is an ssl.SSLContext with the server's certificate: the SMTP server offers STARTTLS with it.
    """
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    listener = Listener(host, port)
    await listener.listen()
    gateway.outage = listener.go_down
    log.info("sandbox listening on http://%s:%d", host, port)
    if smpp_port:
        from sandbox import smpp_server

        smsc = await smpp_server.start(gateway, host, smpp_port)
        http_outage = gateway.outage
        gateway.outage = lambda seconds: (http_outage(seconds), smsc.go_down(seconds))
    if smtp_port:
        from sandbox import smtp_server

        mta = await smtp_server.start(gateway, host, smtp_port, smtp_tls)
        before_smtp = gateway.outage
        gateway.outage = lambda seconds: (before_smtp(seconds), mta.go_down(seconds))
    try:
        await stop
    finally:
        if listener.server is not None:
            listener.server.close()
        gateway.reports.stop()


def run(host: str, port: int, smpp_port: int = 0, smtp_port: int = 0, smtp_tls=None) -> None:
    """Serve in the foreground."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")
    asyncio.run(serve(host, port, smpp_port, smtp_port, smtp_tls))
