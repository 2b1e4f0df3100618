"""Form POSTs over kept-alive connections, one poster per sender thread.

Uses http.client rather than urllib3: on the benchmark machine a urllib3 POST
cost ~500 us of CPU against ~250 us here, and report sending shares the
request handlers' single process (and GIL).
"""
from __future__ import annotations

import http.client
import select
from urllib.parse import urlsplit

_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the server (readable means EOF)."""
    if connection.sock is None:
        return True
    # poll, not select: select fails on descriptors above 1023, which a busy sandbox reaches.
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


def _route(url: str) -> tuple[tuple[str, str, int | None], str]:
    """(scheme, host, port) and the request target of a URL; ValueError if unusable."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname or "", parts.port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return key, target


class FormPoster:
    """Kept-alive connections per (scheme, host, port); not shared between threads."""

    def __init__(self, timeout_s: float) -> None:
        """No connections until the first post."""
        self._timeout_s = timeout_s
        self._connections: dict[tuple[str, str, int | None], http.client.HTTPConnection] = {}

    def post(self, url: str, body: str | bytes, headers: dict | None = None) -> bool:
        """POST a body (a form unless `headers` say otherwise); True on a 2xx answer, False otherwise."""
        try:
            key, target = _route(url)
        except ValueError:
            return False
        try:
            connection = self._connection(key)
            connection.request("POST", target, body=body, headers=headers or _FORM_HEADERS)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self._discard(key)
            return False
        if response.will_close:
            self._discard(key)
        return 200 <= response.status < 300

    def close(self) -> None:
        """Close every connection."""
        for key in list(self._connections):
            self._discard(key)

    def _connection(self, key: tuple[str, str, int | None]) -> http.client.HTTPConnection:
        """A live connection for the key, replacing one the server has closed meanwhile."""
        connection = self._connections.get(key)
        if connection is not None and _dropped(connection):
            self._discard(key)
            connection = None
        if connection is None:
            scheme, host, port = key
            factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = factory(host, port, timeout=self._timeout_s)
            self._connections[key] = connection
        return connection

    def _discard(self, key: tuple[str, str, int | None]) -> None:
        """Forget and close the connection for a key, if any."""
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()
