"""One SMTP session: connect, greeting, EHLO, STARTTLS and AUTH once, then one transaction per message.

It speaks through providers/smtp_client.py (smtplib, every reply bounded, a failed write told
apart from a lost reply). Commands go one at a time (no PIPELINING), so the point of the dialogue
a failure happened at is always known; what each point means is in providers/smtp_replies.py.
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
from providers.smtp_client import BoundedClient, ReplyLost
from providers.smtp_replies import SERVICE_CLOSING, Phase, lost, refusal

# QUIT on the way out is a courtesy: never wait long for it.
QUIT_TIMEOUT_S = 1.0
# The RSET that proves a pooled session alive waits at most this long (a live server answers at once).
RSET_TIMEOUT_S = 5.0
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Any 2xx to the final "." means the server took the message.
_POSITIVE = tuple(range(200, 300))


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


class SmtpSession:
    """An open, greeted (and maybe encrypted and authenticated) session to one server."""

    def __init__(self, config: SessionConfig) -> None:
        """Open the session; raise the SendError the failing point of the setup means."""
        self.config = config
        self.opened_at = self.used_at = time.monotonic()
        self.messages = 0
        self.failed_at: Phase | None = None
        self._client = BoundedClient(config.helo_name, config.reply_timeout)
        try:
            self._connect()
            if config.starttls:
                self._starttls()
            if config.username:
                self._login()
        except SendError:
            self._client.close()  # refused during setup: the connection is of no further use
            raise

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
        # Each command waits for its reply: Nagle's wait for an ACK would only add delay.
        self._client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        """RSET: clears any transaction left open and proves the session alive; False (and closed) if not.

        A live server answers RSET at once, so the wait is short: a session that stays silent is
        given up for a new one rather than waited on for a whole reply timeout.
        """
        wait = min(self.config.reply_timeout, RSET_TIMEOUT_S)
        try:
            self._expect(Phase.RSET, (250,), lambda: self._command("RSET", timeout=wait))
        except SendError:
            self._client.close()
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

    def _command(self, verb: str, args: str = "", timeout: float | None = None) -> tuple[int, bytes]:
        """Write one command and read its reply (within `timeout`, the reply timeout by default)."""
        self._client.putcmd(verb, args)
        return self._client.getreply(timeout)

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
