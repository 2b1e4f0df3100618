"""One HTTP/1.1 request and its answer, spoken directly on a urllib3 connection's socket.

urllib3 still makes the connection (DNS, socket options, TLS and certificate checks).
The exchange itself is done here because urllib3's and http.client's request and
response machinery (header objects, email-parser header parsing, two writes per
request) cost ~0.4 ms of CPU per request on a two-core host, several times what
Herald spends on the message itself. Gateways answer small JSON bodies framed by
Content-Length or chunked encoding; both are handled, and an answer framed by
closing the connection is read to the end.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass

from urllib3.connection import HTTPConnection
from urllib3.exceptions import HTTPError

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
_RECV = 65536


class RequestNotSent(Exception):
    """The request was not (completely) written: the gateway cannot have acted on it."""


class AnswerLost(Exception):
    """The request was written but no complete answer came back."""


class ResponseHeaders(dict):
    """Header fields by lower-case name; get() is case-insensitive."""

    def get(self, name: str, default=None):
        """A field's value, whatever the case of `name`."""
        return dict.get(self, name.lower(), default)


@dataclass(slots=True)
class WireResponse:
    """A complete answer: status, headers, body, and whether the connection must close."""

    status: int
    headers: ResponseHeaders
    data: bytes
    will_close: bool


def request_head(method: str, path: str, host: str, fields: dict[str, str]) -> bytes:
    """The constant part of a request head (no Content-Length, no final blank line)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def exchange(conn: HTTPConnection, head: bytes, body: bytes, write_timeout: float,
             read_timeout: float) -> WireResponse:
    """Write head + Content-Length + body in one send, then read the whole answer."""
    try:
        if conn.sock is None:
            conn.connect()
        sock = conn.sock
        sock.settimeout(write_timeout)
        sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
    except (OSError, ValueError, HTTPError) as exc:
        raise RequestNotSent(str(exc) or exc.__class__.__name__) from exc
    try:
        sock.settimeout(read_timeout)
        return _read_response(sock)
    except (OSError, ValueError) as exc:
        raise AnswerLost(str(exc) or exc.__class__.__name__) from exc


class _Reader:
    """Buffered reads from one socket for one answer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def fill(self) -> None:
        """Read more bytes; a closed connection here means the answer was cut short."""
        chunk = self.sock.recv(_RECV)
        if not chunk:
            raise ConnectionResetError("the gateway closed the connection before answering in full")
        self.buffer += chunk

    def until(self, marker: bytes, limit: int) -> bytes:
        """Bytes up to (and consumed with) `marker`."""
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise ValueError("answer head too large")
            self.fill()
        data = bytes(self.buffer[:end])
        del self.buffer[:end + len(marker)]
        return data

    def exactly(self, size: int) -> bytes:
        """The next `size` bytes."""
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        while chunk := self.sock.recv(_RECV):
            self.buffer += chunk
            if len(self.buffer) > MAX_BODY_BYTES:
                raise ValueError("answer body too large")
        return bytes(self.buffer)


def _parse_head(raw: bytes) -> tuple[int, str, ResponseHeaders]:
    """Status code, HTTP version and header fields of an answer head."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {lines[0][:80]!r}")
    headers = ResponseHeaders()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(rest[:3]), version, headers


def _chunked(reader: _Reader) -> bytes:
    """A chunked body, trailers discarded."""
    parts = []
    while size := int(reader.until(b"\r\n", MAX_HEAD_BYTES).split(b";")[0], 16):
        parts.append(reader.exactly(size))
        reader.exactly(2)
        if sum(map(len, parts)) > MAX_BODY_BYTES:
            raise ValueError("answer body too large")
    while reader.until(b"\r\n", MAX_HEAD_BYTES):
        pass
    return b"".join(parts)


def _read_response(sock: socket.socket) -> WireResponse:
    """Read one answer, skipping interim 1xx answers."""
    reader = _Reader(sock)
    while True:
        status, version, headers = _parse_head(reader.until(b"\r\n\r\n", MAX_HEAD_BYTES))
        if status >= 200:
            break
    connection = headers.get("connection", "").lower()
    will_close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data = _chunked(reader)
    elif (length := headers.get("content-length")) is not None:
        if int(length) > MAX_BODY_BYTES:
            raise ValueError("answer body too large")
        data = reader.exactly(int(length))
    else:
        data, will_close = reader.rest(), True
    # Bytes beyond the answer mean the framing was misread: never reuse such a connection.
    return WireResponse(status, headers, data, will_close or bool(reader.buffer))
