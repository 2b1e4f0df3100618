"""This process's idle SMTP sessions for one account: reused across sends, proved alive before reuse.

A session carries many messages: after each transaction it goes back to the pool, and the next
send takes the most recently used one and sends RSET first. RSET clears whatever a refused
transaction left open, and a session the server has closed meanwhile fails it before any byte of
the next message is written, so a stale session costs a round trip, never a message in doubt.
Sessions are retired (QUIT) after `max_messages` messages, `max_age_s` seconds open or
`max_idle_s` seconds unused, before a server's own limits close them mid-send. A forked child
starts with no sessions and leaves its parent's sockets alone.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, NamedTuple

from providers.smtp_session import SmtpSession


class _Idle(NamedTuple):
    """One process's idle sessions and their lock."""

    pid: int
    lock: threading.Lock
    sessions: list[SmtpSession]


class SessionPool:
    """Idle sessions of one account in this process, most recently used last."""

    def __init__(self, open_session: Callable[[], SmtpSession], *, max_idle: int, max_messages: int,
                 max_age_s: float, max_idle_s: float) -> None:
        """Empty; `open_session` opens a new session or raises the SendError its setup met."""
        self._open_session = open_session
        self.max_idle, self.max_messages = max_idle, max_messages
        self.max_age_s, self.max_idle_s = max_age_s, max_idle_s
        self._idle: _Idle | None = None

    def take(self) -> tuple[SmtpSession, bool]:
        """A live session and whether it was reused: the most recent idle one if it answers RSET, else a new one.

        When the most recently used session is dead, the older ones are closed untried: whatever
        ended it (a restart, an idle timeout) ended them too, and probing each would cost a wait.
        """
        for _ in range(self.max_idle):  # bounded: worn sessions are skipped, at most the pool's size
            session = self._pop()
            if session is None:
                break
            if self._worn(session):
                session.close()
                continue
            if session.reset():
                return session, True
            self.close()
            break
        return self.open(), False

    def open(self) -> SmtpSession:
        """A new session (the SendError its setup met if it cannot be opened)."""
        return self._open_session()

    def give(self, session: SmtpSession) -> None:
        """Take a session back after a send: kept while live, unworn and the pool has room, else closed."""
        if session.closed:
            return
        session.used_at = time.monotonic()
        if not self._worn(session):
            idle = self._process_idle()
            with idle.lock:
                if len(idle.sessions) < self.max_idle:
                    idle.sessions.append(session)
                    return
        session.close()

    def close(self) -> None:
        """QUIT and close this process's idle sessions."""
        idle = self._process_idle()
        with idle.lock:
            sessions, idle.sessions[:] = list(idle.sessions), []
        for session in sessions:
            session.close()

    def idle_count(self) -> int:
        """How many sessions wait in this process."""
        idle = self._process_idle()
        with idle.lock:
            return len(idle.sessions)

    def _pop(self) -> SmtpSession | None:
        """The most recently used idle session, or None."""
        idle = self._process_idle()
        with idle.lock:
            return idle.sessions.pop() if idle.sessions else None

    def _worn(self, session: SmtpSession) -> bool:
        """Whether a session has carried, lived or idled long enough to be retired."""
        now = time.monotonic()
        return (session.messages >= self.max_messages or now - session.opened_at >= self.max_age_s
                or now - session.used_at >= self.max_idle_s)

    def _process_idle(self) -> _Idle:
        """This process's idle list; a forked child gets a fresh one."""
        idle, pid = self._idle, os.getpid()
        if idle is None or idle.pid != pid:
            with _pools_lock:
                idle = self._idle
                if idle is None or idle.pid != pid:
                    idle = self._idle = _Idle(pid, threading.Lock(), [])
        return idle


# Guards the making of a process's idle list; a forked child gets its own, unlocked.
_pools_lock = threading.Lock()
os.register_at_fork(after_in_child=lambda: globals().update(_pools_lock=threading.Lock()))
