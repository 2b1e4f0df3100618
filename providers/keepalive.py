"""Kept-alive gateway connections: a per-process stack of idle urllib3 connections."""
from __future__ import annotations

import os
import threading
from collections import deque
from typing import Callable

from urllib3.connection import HTTPConnection, HTTPSConnection

# Guards creating a process's connection stack; replaced in a forked child because a
# fork can copy it while another thread holds it.
_stack_lock = threading.Lock()


def _reset_stack_lock_after_fork() -> None:
    """Give a forked child its own unlocked stack lock."""
    global _stack_lock
    _stack_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_stack_lock_after_fork)


def stack_lock() -> threading.Lock:
    """The lock that guards creating a process's connection stack."""
    return _stack_lock

# A bare stack of urllib3 connections instead of urllib3's HTTPConnectionPool: the pool's
# queue, retry and timeout bookkeeping costs ~15% of each request's CPU on this hot path,
# and the pool folds errors raised while writing into read errors, whereas here a request
# that was never fully written is told apart (TemporaryError, not UnknownOutcome).
class ConnectionStack:
    """One process's idle keep-alive connections to the gateway, most recently used first."""

    def __init__(self, factory: Callable[[], HTTPConnection], max_idle: int) -> None:
        """Start empty; `factory` makes unconnected connections on demand."""
        self._factory = factory
        self._max_idle = max_idle
        # deque appends and pops are atomic, so threads share the stack without a lock.
        self._idle: deque[HTTPConnection] = deque()
        self._closed = False

    def take(self) -> HTTPConnection:
        """An idle connection the server has not closed meanwhile, else a new one."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return self._factory()
            if conn.is_connected:
                return conn
            # The server closed it while idle (keep-alive timeout); writing would fail.
            conn.close()

    def give_back(self, conn: HTTPConnection) -> None:
        """Keep a still-open connection for the next request; close any beyond max_idle."""
        if self._closed or conn.sock is None or len(self._idle) >= self._max_idle:
            conn.close()
            return
        self._idle.append(conn)

    def close(self) -> None:
        """Close every idle connection; connections given back later are closed too."""
        self._closed = True
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return



def new_connection(scheme: str, host: str, port: int | None, timeout: float,
                   ca_certs: str | None = None) -> HTTPConnection:
    """An unconnected connection; it connects, with `timeout`, on first write."""
    if scheme == "https":
        return HTTPSConnection(host, port, timeout=timeout, ca_certs=ca_certs)
    return HTTPConnection(host, port, timeout=timeout)
