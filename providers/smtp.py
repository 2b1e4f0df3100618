"""Email over SMTP: one transaction per message over reused sessions, typed outcomes, SendGrid events.

Wire format: RFC 5321 SMTP (EHLO, STARTTLS per RFC 3207, AUTH per RFC 4954), one recipient per
transaction (each message has its own To, Message-ID and unsubscribe URL). A message is
multipart/alternative (text, and HTML when given), with List-Unsubscribe and
List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058) when it has an unsubscribe URL,
a Message-ID Herald makes (the provider id) and X-Herald-Message-Id (Herald's message id, for
bounces that quote the headers); optionally DKIM-signed. Sessions are reused (providers/smtp_pool.py):
RSET before each reuse, reopened when the server closes them or after N messages or seconds.

Where a failure leaves a message (SMTP has no idempotency key: a resend is a second email):

  point of the dialogue                      | connection lost / silent       | refused
  -------------------------------------------+--------------------------------+-------------------------------
  connect                                    | NotSent (connect_failed)       | -
  greeting, EHLO, STARTTLS, AUTH             | NotSent                        | 4xx NotSent; 5xx, 530/535 and
                                             |                                | a bad certificate GatewayRejected
  RSET before reusing a session              | session dropped, another used  | session dropped, another used
  MAIL FROM                                  | NotSent (a reused session:     | 4xx TemporaryError, 5xx Gateway-
                                             | retried once on a fresh one)   | Rejected (our sender), 552 Permanent
  RCPT TO                                    | NotSent                        | 4xx TemporaryError, 452/552
                                             |                                | RateLimited, 5xx PermanentError
  DATA                                       | NotSent                        | 4xx TemporaryError, 5xx Permanent
  writing the message and its final "."      | NotSent: a write that fails    | -
                                             | leaves the "." unwritten       |
  waiting for the reply to the final "."     | UnknownOutcome: in doubt       | 4xx TemporaryError, 5xx Permanent
                                             |                                | (2xx: Accepted)

Only the last row is in doubt: a server takes a message when it reads the final "." and must
cancel a transaction whose connection ends before it (RFC 5321 3.8), so until every byte of the
message was handed to the kernel nothing can have been taken; once it was, the server may have
committed the message and lost only its answer (the duplicate-message problem of RFC 1047).
Such a message is never resent by the adapter; a bounce or event may settle it later.
421 (closing) at any point ends the session and counts against the gateway (gateway_fault down).
"""
from __future__ import annotations

from typing import Sequence

from providers import sendgrid_events, smtp_settings as s
from providers.base import (Accepted, DeliveryReport, GatewayRejected, NotSent, OutboundMessage, Provider,
                            ProviderConfigError, SendError, SendResult, WebhookRequest)
from providers.email_dkim import DkimSigner
from providers.email_message import Composed, Identity, compose, is_address
from providers.smtp_pool import SessionPool
from providers.smtp_replies import Phase
from providers.smtp_session import SmtpSession


class SMTPEmail(Provider):
    """Sends email over SMTP and reads the relay's signed SendGrid-style events."""

    name = "smtp"
    channel = "email"
    settings_schema = s.SETTINGS
    honours_idempotency_key = False
    # send_bulk carries at most this many, one transaction after another; each may have its own body.
    max_bulk_recipients = 50
    bulk_bodies_may_differ = True

    @property
    def journal_unit(self) -> int:
        """One message: each transaction is its own write to the wire, so the batch runner sends each
        alone (its lanes sharing the pooled sessions) and a crash leaves at most one per lane in doubt."""
        return 1

    def __init__(self, *, host: str = "", port: int | str = 587, username: str = "", password: str = "",
                 starttls: bool | str = True, tls_ca_file: str = "", helo_name: str = "", from_address: str = "",
                 from_name: str = "", reply_to: str = "", return_path: str = "", message_id_domain: str = "",
                 connect_timeout: float | str = 5.0, reply_timeout: float | str = 30.0,
                 data_timeout: float | str = 60.0, max_messages_per_session: int | str = 100,
                 max_session_age_s: float | str = 60.0, max_idle_s: float | str = 15.0,
                 max_idle_sessions: int | str = 8, dkim_selector: str = "",
                 dkim_domain: str = "", dkim_private_key_path: str = "", event_public_key: str = "",
                 event_max_age_s: float | str = 0.0, sendgrid_smtpapi: bool | str = False) -> None:
        """Check every setting, read the DKIM and event keys; nothing connects until the first send."""
        self._identity = _identity(from_address, from_name, reply_to, return_path, message_id_domain,
                                   s.flag("sendgrid_smtpapi", sendgrid_smtpapi))
        self._config = s.session_config(
            host=host, port=port, username=username, password=password, starttls=starttls, tls_ca_file=tls_ca_file,
            helo_name=s.text("helo_name", helo_name) or self._identity.from_address.rpartition("@")[2],
            connect_timeout=connect_timeout,
            reply_timeout=reply_timeout, data_timeout=data_timeout)
        self.host, self.port = self._config.host, self._config.port
        self._pool = SessionPool(lambda: SmtpSession(self._config),
                                 max_idle=s.count("max_idle_sessions", max_idle_sessions),
                                 max_messages=s.count("max_messages_per_session", max_messages_per_session),
                                 max_age_s=s.seconds("max_session_age_s", max_session_age_s),
                                 max_idle_s=s.seconds("max_idle_s", max_idle_s))
        dkim_settings = [s.text(n, v) for n, v in (("dkim_selector", dkim_selector), ("dkim_domain", dkim_domain),
                                                   ("dkim_private_key_path", dkim_private_key_path))]
        self._signer = DkimSigner(*dkim_settings) if any(dkim_settings) else None
        event_key = s.text("event_public_key", event_public_key)
        self._event_key = sendgrid_events.load_public_key(event_key) if event_key else None
        self._event_max_age_s = s.seconds("event_max_age_s", event_max_age_s, zero_allowed=True)

    def __repr__(self) -> str:
        """Describe the adapter without its password."""
        return f"SMTPEmail(host={self.host!r}, port={self.port}, from_address={self._identity.from_address!r})"

    # ---- sending ------------------------------------------------------------

    def send(self, message: OutboundMessage) -> Accepted:
        """Send one message in one transaction; return Accepted or raise a SendError subclass."""
        return self._transmit(compose(message, self._identity, self._signer))

    def send_bulk(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send messages one transaction after another over one session; one result per message, in order.

        Once one is NotSent or GatewayRejected (the server or the account cannot take mail now),
        the rest get the same outcome without being tried.
        """
        self._check_bulk_size(messages)
        results: list[SendResult] = []
        stalled: SendError | None = None
        for message in messages:
            outcome = stalled or self._send_one(message)
            results.append(outcome)
            if isinstance(outcome, (NotSent, GatewayRejected)):
                stalled = outcome
        return results

    def _transmit(self, composed: Composed) -> Accepted:
        """Carry one composed message over a pooled session."""
        session, reused = self._pool.take()
        try:
            return self._over(session, composed)
        except SendError:
            if not (reused and session.closed and session.failed_at is Phase.MAIL):
                raise
        # The reused session ended at MAIL FROM (a 421, or closed under us): nothing of this message
        # was taken, so a fresh session carries it, once.
        return self._over(self._pool.open(), composed)

    def _over(self, session: SmtpSession, composed: Composed) -> Accepted:
        """One transaction on `session`, which goes back to the pool whatever happens."""
        try:
            session.transmit(composed)
        finally:
            self._pool.give(session)
        return Accepted(provider_message_id=composed.message_id)

    def probe(self) -> None:
        """Open a session (greeting, EHLO, STARTTLS, AUTH) and QUIT; raise the SendError a send would meet."""
        self._pool.open().close()

    def close(self) -> None:
        """QUIT this process's idle sessions; the next send opens a new one."""
        self._pool.close()

    # ---- events -------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> bool:
        """The relay's event callback is signed by the configured key (false when none is configured)."""
        if self._event_key is None:
            return False
        return sendgrid_events.verify(self._event_key, request, self._event_max_age_s)

    def parse_reports(self, request: WebhookRequest) -> list[DeliveryReport]:
        """The delivery reports of one verified event callback (bounces, blocks, drops, deliveries)."""
        return sendgrid_events.reports(sendgrid_events.parse_events(request.body))

    def parse_opt_outs(self, request: WebhookRequest) -> list[sendgrid_events.EmailOptOut]:
        """The complaints and unsubscribes of one verified event callback: addresses to suppress."""
        return sendgrid_events.opt_outs(sendgrid_events.parse_events(request.body))

    def parse_delivery_report(self, form) -> DeliveryReport:
        """Never one form: events arrive as JSON arrays (parse_reports)."""
        raise ValueError("SMTP events arrive as a JSON array; use parse_reports")


def _identity(from_address: str, from_name: str, reply_to: str, return_path: str, message_id_domain: str,
              smtpapi: bool) -> Identity:
    """The account's sending identity; ProviderConfigError for an address SMTP cannot carry."""
    found = Identity(s.text("from_address", from_address, required=True), s.text("from_name", from_name),
                     s.text("reply_to", reply_to), s.text("return_path", return_path),
                     s.text("message_id_domain", message_id_domain), smtpapi)
    for name in ("from_address", "reply_to", "return_path"):
        value = getattr(found, name)
        if value and not is_address(value):
            raise ProviderConfigError(f"smtp: {name} is not an address SMTP can carry: {value!r}")
    return found
