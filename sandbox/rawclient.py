"""A bare keep-alive HTTP/1.1 client over one socket, for load checks.

It does almost no work per request, so what it measures is the server;
urllib3, which Herald's workers use, costs about as much CPU as the server.
"""
from __future__ import annotations

import socket
import time

_HEADER_END = b"\r\n\r\n"
_RECV_BYTES = 65536


class RawConnection:
    """One persistent connection that sends ready-made requests and reads whole answers."""

    def __init__(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        """Connect now, with Nagle off as any HTTP client would."""
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def exchange(self, request: bytes) -> int:
        """Send one request and read its answer; return the status code."""
        self._sock.sendall(request)
        head_end = self._fill_until_header_end()
        head = self._buffer[:head_end]
        length = content_length(head)
        total = head_end + len(_HEADER_END) + length
        while len(self._buffer) < total:
            self._receive()
        self._buffer = self._buffer[total:]
        return int(head[9:12])

    def _fill_until_header_end(self) -> int:
        """Read until a full header block is buffered; return where it ends."""
        while True:
            index = self._buffer.find(_HEADER_END)
            if index >= 0:
                return index
            self._receive()

    def _receive(self) -> None:
        """Append one recv() to the buffer; a closed connection is an error."""
        chunk = self._sock.recv(_RECV_BYTES)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buffer += chunk


def content_length(head: bytes) -> int:
    """The Content-Length of a response header block (0 when absent)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def form_request(host: str, port: int, path: str, headers: dict, body: bytes) -> bytes:
    """A complete POST request with a form body, as bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


def send_all(host: str, port: int, requests: list[bytes], latencies: list, statuses: dict) -> int:
    """Send every request over one connection; return connections opened (always 1)."""
    connection = RawConnection(host, port)
    try:
        for request in requests:
            started = time.perf_counter()
            status = connection.exchange(request)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        connection.close()
    return 1
