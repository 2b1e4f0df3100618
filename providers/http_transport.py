"""The HTTP transport every HTTP gateway adapter shares: kept-alive connections, proxies, typed failures.

A request is written in one send on a kept-alive connection (providers.http_exchange). What
went wrong is told apart by when: before the request was fully written (NotSent or a plain
TemporaryError: the gateway cannot have acted) or after (UnknownOutcome: it may have).
A proxy is used the way urllib3's ProxyManager uses one: an http:// gateway is reached by
forwarding (absolute request URI to the proxy), an https:// gateway through a CONNECT tunnel.
"""
from __future__ import annotations

import math
import os
import ssl
import time
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Mapping
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.url import parse_url

from providers import http_exchange, keepalive
from providers.base import NotSent, ProviderConfigError, TemporaryError, UnknownOutcome

_BODY_EXCERPT_BYTES = 200


class HttpTransport:
    """One gateway's base URL reached over this process's kept-alive connections."""

    def __init__(self, provider: str, base_url: str, *, connect_timeout: float, read_timeout: float,
                 pool_maxsize: int = 16, proxy_url: str = "", ca_certs: str | None = None) -> None:
        """Split the base URL and proxy once; connections open on first use."""
        self.base_url, self.scheme, self.host, self.port, self.prefix = split_base_url(provider, base_url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_maxsize = pool_maxsize
        self.proxy = parse_url(proxy_url) if proxy_url else None
        if self.proxy is not None and (self.proxy.scheme not in ("http", "https") or not self.proxy.host):
            raise ProviderConfigError(f"{provider}: proxy_url must be an http(s) URL, got {proxy_url!r}")
        self.ca_certs = ca_certs
        self._stack_state: tuple[int, keepalive.ConnectionStack] | None = None

    def host_header(self) -> str:
        """The Host field: the port only when it is not the scheme's default."""
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port in (None, default) else f"{self.host}:{self.port}"

    def request_head(self, method: str, path: str, fields: Mapping[str, str]) -> bytes:
        """The constant head of a request to `path` under the base URL (absolute when forwarded)."""
        target = self.prefix + path
        if self.proxy is not None and self.scheme == "http":
            # A forwarding proxy needs the absolute URI to know where the request goes.
            target = f"http://{self.host_header()}{target}"
        return http_exchange.request_head(method, target, self.host_header(), dict(fields))

    def exchange(self, head: bytes, body: bytes) -> http_exchange.WireResponse:
        """One request on a kept-alive connection; transport failures become typed errors."""
        stack = self.connections()
        conn = stack.take()
        fresh = conn.sock is None
        try:
            response = http_exchange.exchange(conn, head, body, self.connect_timeout, self.read_timeout)
        except http_exchange.RequestNotSent as exc:
            conn.close()
            raise unsent_error(exc.__cause__ or exc, fresh) from exc
        except http_exchange.AnswerLost as exc:
            # A connection in an unknown state must never carry another request.
            conn.close()
            raise unanswered_error(exc.__cause__ or exc) from exc
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            stack.give_back(conn)
        return response

    def probe_exchange(self, head: bytes) -> http_exchange.WireResponse:
        """One bodiless request on a fresh connection with short timeouts: does the gateway answer now?"""
        conn = self.new_connection()
        try:
            timeout = self.connect_timeout
            return http_exchange.exchange(conn, head, b"", timeout, timeout)
        except http_exchange.RequestNotSent as exc:
            raise unsent_error(exc.__cause__ or exc, fresh=True) from exc
        except http_exchange.AnswerLost as exc:
            raise unanswered_error(exc.__cause__ or exc) from exc
        finally:
            conn.close()

    def connections(self) -> keepalive.ConnectionStack:
        """This process's connection stack, created on first use and again after a fork."""
        state = self._stack_state
        pid = os.getpid()
        if state is not None and state[0] == pid:
            return state[1]
        return self._replace_stack(pid)

    def _replace_stack(self, pid: int) -> keepalive.ConnectionStack:
        """Create the stack for `pid` once, however many threads ask at the same moment."""
        with keepalive.stack_lock():
            state = self._stack_state
            if state is None or state[0] != pid:
                # Connections inherited through fork are abandoned, never used or closed
                # here: the parent still owns those sockets and keeps talking on them.
                state = (pid, keepalive.ConnectionStack(self.new_connection, self.pool_maxsize))
                self._stack_state = state
            return state[1]

    def new_connection(self) -> HTTPConnection:
        """An unconnected connection to the gateway, or to the proxy in front of it."""
        if self.proxy is None:
            return keepalive.new_connection(self.scheme, self.host, self.port, self.connect_timeout,
                                            ca_certs=self.ca_certs)
        proxy_port = self.proxy.port or (443 if self.proxy.scheme == "https" else 80)
        if self.scheme == "http":
            return keepalive.new_connection(self.proxy.scheme, self.proxy.host, proxy_port, self.connect_timeout)
        conn = HTTPSConnection(self.proxy.host, proxy_port, timeout=self.connect_timeout, proxy=self.proxy,
                               ca_certs=self.ca_certs)
        conn.set_tunnel(self.host, self.port or 443, scheme=self.proxy.scheme)
        return conn

    def close(self) -> None:
        """Close this process's idle connections; the next request opens fresh ones."""
        with keepalive.stack_lock():
            state, self._stack_state = self._stack_state, None
        if state is not None and state[0] == os.getpid():
            state[1].close()


def split_base_url(provider: str, base_url: object) -> tuple[str, str, str, int | None, str]:
    """Normalised base URL, its scheme, host, port, and the path prefix the endpoints go under."""
    url = ("" if base_url is None else str(base_url)).strip().rstrip("/")
    if not url:
        raise ProviderConfigError(f"{provider}: base_url is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderConfigError(f"{provider}: base_url must be an http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ProviderConfigError(f"{provider}: base_url must be scheme://host[:port][/path], got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ProviderConfigError(f"{provider}: base_url has an invalid port, got {url!r}") from None
    return url, parts.scheme, parts.hostname, port, parts.path


def unsent_error(exc: BaseException, fresh: bool) -> TemporaryError:
    """A failure before the whole request was written: the gateway cannot have acted on it."""
    if _is_certificate_failure(exc):
        return NotSent("tls_failed", describe(exc))
    if fresh or isinstance(exc, (NewConnectionError, ConnectTimeoutError)):
        # Refused, unreachable, timed out, or the TLS handshake failed: nothing reached the gateway.
        return NotSent("connect_failed", describe(exc))
    # A kept-alive connection broke mid-write; a request cut short is never processed. It says
    # nothing about the gateway as a whole (idle connections get closed), so it is a plain retry.
    return TemporaryError("send_failed", describe(exc))


def unanswered_error(exc: BaseException) -> UnknownOutcome:
    """A failure after the request was written: the gateway may or may not have acted on it."""
    if isinstance(exc, (ReadTimeoutError, TimeoutError)):
        return UnknownOutcome("read_timeout", describe(exc))
    return UnknownOutcome("connection_lost", describe(exc))


def _is_certificate_failure(exc: BaseException) -> bool:
    """Tell whether a failure is the server's certificate being refused."""
    return isinstance(exc, ssl.SSLCertVerificationError) or isinstance(exc.__cause__, ssl.SSLCertVerificationError)


def describe(exc: BaseException) -> str:
    """Exception type and message, for error details."""
    return f"{type(exc).__name__}: {exc}"


def excerpt(data: bytes) -> str:
    """The start of a response body, for error details."""
    return data[:_BODY_EXCERPT_BYTES].decode("utf-8", "replace").strip()


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from X-Retry-After-Ms (precise) or Retry-After (seconds or HTTP date)."""
    millis = _finite_float(headers.get("X-Retry-After-Ms"))
    if millis is not None:
        return max(0.0, millis / 1000.0)
    value = headers.get("Retry-After")
    if not value:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    return _seconds_until(value)


def _finite_float(value: str | None) -> float | None:
    """Parse a finite float, or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _seconds_until(http_date: str) -> float | None:
    """Seconds from now until an HTTP date, or None if it does not parse."""
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())
