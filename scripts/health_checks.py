"""Health checks of stack processes: an HTTP URL answering 2xx or a TCP port accepting."""
from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request

PROBE_TIMEOUT = 2.0


def health_target(health: str | int | None) -> str:
    """Printable form of a health check."""
    if health is None:
        return "-"
    if isinstance(health, int):
        return f"tcp://127.0.0.1:{health}"
    return health


# Loopback checks must never go through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_ok(url: str) -> bool:
    """True if GET url answers 2xx."""
    try:
        with _OPENER.open(url, timeout=PROBE_TIMEOUT) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False


def tcp_ok(host: str, port: int) -> bool:
    """True if host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def healthy(health: str | int | None) -> bool:
    """Run one health check; a process without one is healthy."""
    if health is None:
        return True
    target = urllib.parse.urlsplit(health_target(health))
    if target.scheme == "tcp":
        return tcp_ok(target.hostname or "127.0.0.1", target.port or 0)
    return http_ok(target.geturl())
