"""The sandbox's SMTP server: aiosmtpd on the sandbox's event loop, with a ledger and injectable replies.

aiosmtpd speaks the protocol (EHLO, STARTTLS when given a certificate, AUTH PLAIN/LOGIN, SIZE,
RSET, dot-unstuffing); the handler here decides each recipient and records each message:
  * RCPT TO: an address in smtp_address_replies gets its reply; otherwise smtp_rcpt_temp_rate
    draws a 451 and smtp_rcpt_perm_rate a 550; a refused recipient counts in the shared ledger
    as a temporary or permanent failure, keyed by the address.
  * DATA: the message is taken, parsed back into the SMTP ledger and counted as accepted in the
    shared ledger (no deduplication), and its SendGrid-shaped events are scheduled. With chance
    smtp_drop_after_data_rate the connection is then cut before the 250 goes out: the server
    has the message and the client never hears so.
  * MAIL FROM after smtp_max_messages_per_connection messages on one connection: 421 and a close.
Faults are set at POST /_sandbox/config; down_for_s takes this port down too.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from sandbox import email_events
from sandbox import events as ev
from sandbox.gateway import Gateway
from sandbox.smtp_ledger import SmtpLedger

log = logging.getLogger("sandbox.smtp")
HOSTNAME = "sandbox.herald.test"
TEMPORARY_REPLY = "451 4.3.0 Temporary failure, try again later"
PERMANENT_REPLY = "550 5.1.1 Mailbox unavailable"
LIMIT_REPLY = "421 4.7.0 Too many messages on this connection, closing"
# A cut connection's handler waits this long at most for aiosmtpd to notice and cancel it.
_CUT_WAIT_S = 5.0


class SandboxSmtp(SMTP):
    """aiosmtpd's server, counting connections and the messages each carried."""

    def __init__(self, server: "SmtpServer", **options) -> None:
        """One connection's protocol, with its own number."""
        super().__init__(server.handler, **options)
        self.sandbox = server
        self.number = next(server.numbers)
        self.accepted_here = 0

    def connection_made(self, transport) -> None:
        """Count a new connection (not its switch to TLS)."""
        if self.transport is None:
            self.sandbox.ledger.count("connections")
            self.sandbox.connections.add(self)
        else:
            self.sandbox.ledger.count("starttls")
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        """Forget the connection."""
        self.sandbox.connections.discard(self)
        super().connection_lost(error)


class Handler:
    """aiosmtpd's hooks: the sandbox's decisions for each command."""

    def __init__(self, server: "SmtpServer") -> None:
        self.server = server

    async def handle_EHLO(self, smtp: SandboxSmtp, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        """Count a session; answer what aiosmtpd would."""
        session.host_name = hostname
        self.server.ledger.count("sessions")
        return responses

    async def handle_MAIL(self, smtp: SandboxSmtp, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        """Take the sender, unless the connection carried its limit of messages (421, closed)."""
        limit = self.server.settings.smtp_max_messages_per_connection
        if limit and smtp.accepted_here >= limit:
            self.server.ledger.count("closed_at_limit")
            asyncio.get_running_loop().call_soon(smtp.transport.close)
            return LIMIT_REPLY
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self.server.ledger.count("mails")
        return "250 2.1.0 OK"

    async def handle_RCPT(self, smtp: SandboxSmtp, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        """Accept the recipient, or refuse it as scripted or drawn."""
        refusal = self.server.refusal_for(address)
        if refusal is None:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        temporary = refusal.startswith("4")
        self.server.ledger.count("rcpt_temporary" if temporary else "rcpt_permanent")
        self.server.gateway.record(address, ev.TEMPORARY if temporary else ev.PERMANENT)
        if refusal.startswith("421"):
            asyncio.get_running_loop().call_soon(smtp.transport.close)
        return refusal

    async def handle_RSET(self, smtp: SandboxSmtp, session: Session, envelope: Envelope) -> str:
        """Count it."""
        self.server.ledger.count("rsets")
        return "250 2.0.0 OK"

    async def handle_DATA(self, smtp: SandboxSmtp, session: Session, envelope: Envelope) -> str:
        """Take the message; or take it and cut the connection before answering."""
        content = envelope.original_content or b""
        smtp.accepted_here += 1
        record = self.server.ledger.accept(smtp.number, envelope.mail_from or "", envelope.rcpt_tos, content)
        for address in envelope.rcpt_tos:
            self.server.gateway.record(address, ev.ACCEPTED)
        self.server.schedule_events(record)
        if self.server.rng.random() < self.server.settings.smtp_drop_after_data_rate:
            self.server.ledger.count("drops_after_data")
            smtp.transport.abort()  # no 250 will be written: the write after an abort is dropped
            await asyncio.sleep(_CUT_WAIT_S)  # cancelled as soon as aiosmtpd sees the connection lost
        return "250 2.0.0 OK: queued as " + record["message_id"].strip("<>")

    def authenticate(self, smtp: SandboxSmtp, session: Session, envelope: Envelope, mechanism: str,
                     auth_data) -> AuthResult:
        """AUTH PLAIN / LOGIN against smtp_username / smtp_password (no user name: every AUTH fails)."""
        settings = self.server.settings
        login = getattr(auth_data, "login", b"").decode("utf-8", "replace")
        password = getattr(auth_data, "password", b"").decode("utf-8", "replace")
        ok = bool(settings.smtp_username) and (login, password) == (settings.smtp_username, settings.smtp_password)
        self.server.ledger.count("auth_ok" if ok else "auth_failed")
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """The listening socket, its connections, the ledger and the event signer."""

    def __init__(self, gateway: Gateway, tls_context: ssl.SSLContext | None = None) -> None:
        """Attach to the gateway's settings and shared ledger."""
        self.gateway = gateway
        self.settings = gateway.settings
        self.tls_context = tls_context
        self.ledger = SmtpLedger()
        self.signer = email_events.EventSigner()
        self.handler = Handler(self)
        self.rng = random.Random(self.settings.seed)
        self.numbers = itertools.count(1)
        self.connections: set[SandboxSmtp] = set()
        self.server: asyncio.AbstractServer | None = None
        gateway.smtp = self

    async def start(self, host: str, port: int) -> None:
        """Listen for SMTP connections."""
        self.address = (host, port)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: self._protocol(loop), host, port, reuse_address=True)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> SandboxSmtp:
        """One connection's server, with AUTH required or not as the settings say now."""
        return SandboxSmtp(self, hostname=HOSTNAME, ident="Herald sandbox ESMTP", tls_context=self.tls_context,
                           auth_required=self.settings.smtp_auth_required, auth_require_tls=False,
                           authenticator=self.handler.authenticate, timeout=60, loop=loop)

    def refusal_for(self, address: str) -> str | None:
        """The reply a RCPT TO for `address` gets instead of 250, or None."""
        scripted = self.settings.smtp_address_replies.get(address.lower())
        if scripted:
            return scripted
        if self.rng.random() < self.settings.smtp_rcpt_temp_rate:
            return TEMPORARY_REPLY
        if self.rng.random() < self.settings.smtp_rcpt_perm_rate:
            return PERMANENT_REPLY
        return None

    def schedule_events(self, record: dict) -> None:
        """Queue the message's signed events for smtp_events_url, after dlr_delay_ms (if a URL is set)."""
        url = self.settings.smtp_events_url
        if not url:
            return
        headers = dict(record["headers"])
        args = email_events.unique_args(headers.get("X-SMTPAPI"))
        for address in record["rcpt_tos"]:
            events = email_events.events_for(address, record["message_id"], args, time.time())
            if events:
                body = email_events.body_of(events)
                self.gateway.reports.schedule_bodies(url, self.settings.dlr_delay_ms / 1000.0,
                                                     [(body, self.signer.headers(body))])

    def go_down(self, seconds: float) -> None:
        """An outage: cut every connection and refuse new ones for `seconds`, then listen again."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, lambda: loop.create_task(self._listen_again()))

    async def _listen_again(self) -> None:
        """Reopen the port after an outage, unless another outage already did."""
        if self.server is None:
            await self.start(*self.address)

    def snapshot(self) -> dict:
        """The counters for /_sandbox/ledger under "smtp"."""
        return self.ledger.snapshot()

    def clear(self) -> None:
        """Zero the counters and forget the messages (POST /_sandbox/reset)."""
        self.ledger.clear()
        if self.settings.seed is not None:
            self.rng.seed(self.settings.seed)


async def start(gateway: Gateway, host: str, port: int, tls_context: ssl.SSLContext | None = None) -> SmtpServer:
    """Run the SMTP server on the running loop (aiosmtpd's per-command log and deprecation notes kept quiet)."""
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    server = SmtpServer(gateway, tls_context)
    await server.start(host, port)
    log.info("sandbox SMTP listening on %s:%d%s", host, port, " (STARTTLS offered)" if tls_context else "")
    return server
