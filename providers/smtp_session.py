"""One SMTP session: connect, greeting, EHLO, STARTTLS and AUTH once, then one transaction per message.

Built on smtplib for the dialogue it gets right (EHLO parsing, STARTTLS, the AUTH mechanisms),
with two changes: a write that fails is told apart from a reply that never came (smtplib raises
SMTPServerDisconnected for both, and they mean "not sent" and "in doubt" at the end of DATA), and
every reply is read within one deadline and a bounded number of lines, so a server that trickles
bytes cannot hold a sender longer than the timeout. Commands go one at a time (no PIPELINING), so
the point of the dialogue a failure happened at is always known. What each point means is in
providers/smtp_replies.py.
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import NoReturn

from providers.base import GatewayRejected, SendError
from providers.email_message import Composed
from providers.smtp_replies import SERVICE_CLOSING, Phase, lost, refusal

# A reply longer than this (lines, or bytes a line) is not an SMTP server's.
MAX_REPLY_LINES = 100
MAX_LINE_BYTES = 8192
# QUIT on the way out is a courtesy: never wait long for it.
QUIT_TIMEOUT_S = 1.0
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Any 2xx to the final "." means the server took the message.
_POSITIVE = tuple(range(200, 300))


class WriteFailed(smtplib.SMTPServerDisconnected):
    """A command or the message could not be written whole: what was not written never arrived."""


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The connection closed, failed or stayed silent before a whole reply was read."""

    def __init__(self, detail: str, timed_out: bool = False) -> None:
        """Say whether the deadline passed (a silent server) or the connection ended."""
        super().__init__(detail)
        self.timed_out = timed_out


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Where and how to open a session; the same for every session of an account."""

    host: str
    port: int
    helo_name: str
    starttls: bool
    tls_context: ssl.SSLContext | None
    username: str
    password: str
    connect_timeout: float
    reply_timeout: float
    #: the wait for the reply to the final ".", which servers take longest to give
    data_timeout: float


class _Client(smtplib.SMTP):
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


class SmtpSession:
    """An open, greeted (and maybe encrypted and authenticated) session to one server."""

    def __init__(self, config: SessionConfig) -> None:
        """Open the session; raise the SendError the failing point of the setup means."""
        self.config = config
        self.opened_at = self.used_at = time.monotonic()
        self.messages = 0
        self.failed_at: Phase | None = None
        self._client = _Client(config.helo_name, config.reply_timeout)
        self._connect()
        if config.starttls:
            self._starttls()
        if config.username:
            self._login()

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed by either side, or failed)."""
        return self._client.sock is None

    # ---- setup ----------------------------------------------------------------

    def _connect(self) -> None:
        """TCP connect, the 220 greeting, EHLO."""
        try:
            self._client.sock = socket.create_connection((self.config.host, self.config.port),
                                                         timeout=self.config.connect_timeout)
        except OSError as exc:
            self._fail(lost(Phase.CONNECT, str(exc)), Phase.CONNECT)
        self._client._host = self.config.host  # STARTTLS checks the certificate against it
        self._expect(Phase.GREETING, (220,), self._client.getreply)
        self._expect(Phase.EHLO, (250,), self._client.ehlo)

    def _starttls(self) -> None:
        """STARTTLS, the TLS handshake (certificate checked), and EHLO again over TLS."""
        if not self._client.has_extn("starttls"):
            self._fail(GatewayRejected("starttls_unavailable", "the server does not offer STARTTLS"), Phase.STARTTLS)
        self._expect(Phase.STARTTLS, (220,), lambda: self._client.docmd("STARTTLS"))
        try:
            self._client.sock = self.config.tls_context.wrap_socket(self._client.sock,
                                                                    server_hostname=self.config.host)
        except ssl.SSLCertVerificationError as exc:
            self._fail(GatewayRejected("tls_certificate", str(exc)), Phase.STARTTLS)
        except OSError as exc:  # ssl.SSLError too: the handshake failed or the connection did
            self._fail(lost(Phase.STARTTLS, f"TLS handshake: {exc}"), Phase.STARTTLS)
        self._client.forget_plaintext()
        self._expect(Phase.EHLO, (250,), self._client.ehlo)

    def _login(self) -> None:
        """AUTH with the first mechanism both sides know (smtplib: CRAM-MD5, PLAIN, LOGIN)."""
        if not self._client.has_extn("auth"):
            self._fail(GatewayRejected("auth_unavailable", "the server offers no AUTH"), Phase.AUTH)
        try:
            with self._failing_at(Phase.AUTH):
                self._client.login(self.config.username, self.config.password)
        except smtplib.SMTPAuthenticationError as exc:
            self._fail(refusal(Phase.AUTH, exc.smtp_code, _text(exc.smtp_error)), Phase.AUTH)
        except smtplib.SMTPException as exc:  # no mechanism in common
            self._fail(GatewayRejected("auth_mechanism", str(exc)), Phase.AUTH)

    # ---- use ------------------------------------------------------------------

    def reset(self) -> bool:
        """RSET: clears any transaction left open and proves the session alive; False (and closed) if not."""
        try:
            self._expect(Phase.RSET, (250,), self._client.rset)
        except SendError:
            return False
        return True

    def transmit(self, composed: Composed) -> str:
        """One transaction (MAIL, RCPT, DATA, the message); the final reply's text, or the SendError it means."""
        size = f" SIZE={len(composed.payload)}" if self._client.has_extn("size") else ""
        self._expect(Phase.MAIL, (250,), lambda: self._command("MAIL", f"FROM:<{composed.sender}>{size}"))
        self._expect(Phase.RCPT, (250, 251), lambda: self._command("RCPT", f"TO:<{composed.recipient}>"))
        self._expect(Phase.DATA, (354,), lambda: self._command("DATA"))
        with self._failing_at(Phase.CONTENT):
            self._client.send(_dot_stuffed(composed.payload))
        reply = self._expect(Phase.FINAL, _POSITIVE, lambda: self._client.getreply(self.config.data_timeout))
        self.messages += 1
        return reply

    def close(self) -> None:
        """QUIT (briefly, if the connection still stands) and close."""
        if not self.closed:
            try:
                self._client.reply_timeout = QUIT_TIMEOUT_S
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                pass
        self._client.close()

    # ---- the dialogue's plumbing -------------------------------------------------

    def _command(self, verb: str, args: str = "") -> tuple[int, bytes]:
        """Write one command and read its reply."""
        self._client.putcmd(verb, args)
        return self._client.getreply()

    def _expect(self, phase: Phase, wanted: tuple[int, ...], exchange) -> str:
        """Run one exchange; its reply text if the code is wanted, else the SendError it means."""
        with self._failing_at(phase):
            code, text = exchange()
        if code not in wanted:
            if code == SERVICE_CLOSING or code < 0:
                self._client.close()  # the server is closing (or speaks no SMTP): this session is over
            self._fail(refusal(phase, code, _text(text)), phase)
        return _text(text)

    def _failing_at(self, phase: Phase) -> "_FailingAt":
        """A context that turns a lost connection during `phase` into its SendError."""
        return _FailingAt(self, phase)

    def _fail(self, error: SendError, phase: Phase) -> NoReturn:
        """Remember where the session failed, and raise."""
        self.failed_at = phase
        raise error


class _FailingAt:
    """Turns WriteFailed / ReplyLost / a socket error inside one phase into the typed outcome."""

    def __init__(self, session: SmtpSession, phase: Phase) -> None:
        self.session, self.phase = session, phase

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, _tb) -> bool:
        """Raise the phase's outcome for a lost connection; let everything else through."""
        # smtplib's errors are OSErrors too: only a disconnection among them is a lost connection.
        disconnected = isinstance(exc, smtplib.SMTPServerDisconnected) or (
            isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException))
        if not disconnected:
            return False
        self.session._client.close()
        timed_out = isinstance(exc, ReplyLost) and exc.timed_out
        self.session._fail(lost(self.phase, str(exc), timed_out), self.phase)


def _dot_stuffed(payload: bytes) -> bytes:
    """The message as DATA carries it: a leading "." doubled on every line, then CRLF "." CRLF."""
    data = _LEADING_DOT.sub(b"..", payload)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _text(reply) -> str:
    """A reply's text as str."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
