"""smtplib's client with every reply bounded and a failed write told apart from a lost reply.

smtplib gets the dialogue right (EHLO parsing, the AUTH mechanisms) but raises
SMTPServerDisconnected both when a write fails and when a reply never comes, and those mean
"not sent" and "in doubt" at the end of DATA; and it reads a reply line by line with only a
per-read timeout, so a server that trickles bytes could hold a sender indefinitely. Here a reply
is read within one deadline and a bounded number of lines and bytes.
"""
from __future__ import annotations

import smtplib
import socket
import time

# A reply longer than this (lines, or bytes a line) is not an SMTP server's.
MAX_REPLY_LINES = 100
MAX_LINE_BYTES = 8192


class WriteFailed(smtplib.SMTPServerDisconnected):
    """A command or the message could not be written whole: what was not written never arrived."""


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The connection closed, failed or stayed silent before a whole reply was read."""

    def __init__(self, detail: str, timed_out: bool = False) -> None:
        """Say whether the deadline passed (a silent server) or the connection ended."""
        super().__init__(detail)
        self.timed_out = timed_out


class BoundedClient(smtplib.SMTP):
    """smtplib's client with bounded replies and failed writes reported as WriteFailed."""

    def __init__(self, helo_name: str, reply_timeout: float) -> None:
        """Not connected; `local_hostname` given so smtplib never looks up this host's name."""
        super().__init__(local_hostname=helo_name, timeout=reply_timeout)
        self.reply_timeout = reply_timeout
        self._unread = bytearray()

    def send(self, s) -> None:
        """Write all of `s`, or raise WriteFailed (the connection is closed then)."""
        if self.sock is None:
            raise WriteFailed("not connected")
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        try:
            self.sock.settimeout(self.reply_timeout)
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise WriteFailed(f"write failed: {exc}") from None

    def getreply(self, timeout: float | None = None) -> tuple[int, bytes]:
        """One whole reply (code, text), read within `timeout` (the reply timeout by default)."""
        deadline = time.monotonic() + (timeout or self.reply_timeout)
        lines: list[bytes] = []
        for _ in range(MAX_REPLY_LINES):
            line = self._read_line(deadline)
            lines.append(line[4:].strip(b" \t\r\n"))
            code = int(line[:3]) if line[:3].isdigit() else -1
            if code < 0 or line[3:4] != b"-":
                return code, b"\n".join(lines)
        self.close()
        raise ReplyLost(f"reply longer than {MAX_REPLY_LINES} lines")

    def _read_line(self, deadline: float) -> bytes:
        """One reply line, waiting no later than `deadline`."""
        while True:
            end = self._unread.find(b"\n")
            if end >= 0:
                line = bytes(self._unread[:end + 1])
                del self._unread[:end + 1]
                return line
            if len(self._unread) > MAX_LINE_BYTES:
                self.close()
                raise ReplyLost("reply line too long")
            self._unread += self._receive(deadline)

    def _receive(self, deadline: float) -> bytes:
        """Whatever the server sent next; ReplyLost when it closes, fails or the deadline passes."""
        remaining = deadline - time.monotonic()
        if self.sock is None or remaining <= 0:
            self.close()
            raise ReplyLost("no reply in time" if self.sock else "not connected", timed_out=self.sock is not None)
        try:
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
        except socket.timeout:
            self.close()
            raise ReplyLost("no reply in time", timed_out=True) from None
        except OSError as exc:
            self.close()
            raise ReplyLost(f"connection failed: {exc}") from None
        if not chunk:
            self.close()
            raise ReplyLost("connection closed by the server")
        return chunk

    def forget_plaintext(self) -> None:
        """After the TLS handshake: drop bytes read before it and what EHLO said (RFC 3207 4.2)."""
        self._unread.clear()
        self.file = None
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False

    def close(self) -> None:
        """Close the socket and forget anything unread."""
        self._unread.clear()
        super().close()
