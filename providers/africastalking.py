"""Africa's Talking SMS adapter: form-encoded POSTs over kept-alive urllib3 connections.

Herald extension: an `Idempotency-Key` header (comma-separated keys for a bulk request);
the real AT ignores it, Herald's sandbox deduplicates on it. The wire format itself is
in providers/africastalking_wire.py.
"""
from __future__ import annotations

import hmac
from typing import Mapping, Sequence
from urllib.parse import quote_plus

from providers import http_exchange, keepalive
from providers.africastalking_settings import (
    MESSAGING_PATH,
    SETTINGS,
    USER_PATH,
    _as_bool,
    _as_count,
    _as_seconds,
    _auth_headers,
    _constant_headers,
    _form_prefix,
    _required_text,
)
from providers.http_transport import HttpTransport
from providers.africastalking_wire import (
    DELIVERY_STATUSES,
    _form_text,
    _herald_status,
    _match_outcomes,
    _raise_for_http_status,
    _recipients,
    _user_data,
)
from providers.base import (
    Accepted,
    DeliveryReport,
    InboundMessage,
    OutboundMessage,
    Provider,
    SendError,
    SendResult,
    WebhookRequest,
    gateway_time,
)


class AfricasTalkingSMS(Provider):
    """Sends SMS through Africa's Talking and parses its delivery reports."""

    name = "africastalking"
    channel = "sms"
    settings_schema = SETTINGS

    def __init__(
        self,
        *,
        base_url: str = "",
        username: str = "",
        api_key: str = "",
        sender_id: str | None = None,
        honours_idempotency_key: bool | str = False,
        max_bulk_recipients: int | str = 100,
        connect_timeout: float | str = 3.0,
        read_timeout: float | str = 15.0,
        pool_maxsize: int | str = 16,
        webhook_secret: str | None = "",
        proxy_url: str | None = "",
    ) -> None:
        """Validate settings and pre-build the constant headers and form prefix."""
        self.username = _required_text("username", username)
        self.sender_id = sender_id or None
        self.honours_idempotency_key = _as_bool("honours_idempotency_key", honours_idempotency_key)
        self.max_bulk_recipients = _as_count("max_bulk_recipients", max_bulk_recipients)
        self.connect_timeout = _as_seconds("connect_timeout", connect_timeout)
        self.read_timeout = _as_seconds("read_timeout", read_timeout)
        self.pool_maxsize = _as_count("pool_maxsize", pool_maxsize)
        # AT does not sign its callbacks: the report URL carries this secret instead.
        self._webhook_secret = (webhook_secret or "").encode()
        self._transport = HttpTransport(
            self.name, base_url, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            pool_maxsize=self.pool_maxsize, proxy_url=proxy_url or "")
        self.base_url = self._transport.base_url
        api_key = _required_text("api_key", api_key)
        self._head = self._transport.request_head("POST", MESSAGING_PATH, _constant_headers(api_key))
        self._probe_head = self._transport.request_head(
            "GET", f"{USER_PATH}?username={quote_plus(self.username)}", _auth_headers(api_key))
        self._form_prefix = _form_prefix(self.username, self.sender_id)

    def __repr__(self) -> str:
        """Describe the adapter without its API key."""
        return f"AfricasTalkingSMS(base_url={self.base_url!r}, username={self.username!r})"

    # ---- sending ---------------------------------------------------------------

    def send(self, message: OutboundMessage) -> Accepted:
        """Send one message; return Accepted or raise a SendError subclass."""
        recipients = self._post(message.to, message.body, message.sender, message.idempotency_key)
        outcome = _match_outcomes(recipients, (message,))[0]
        if isinstance(outcome, SendError):
            raise outcome
        return outcome

    def send_bulk(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send messages sharing one body in one request; one result per message, in order."""
        if not messages:
            return []
        self._check_bulk(messages)
        first = messages[0]
        recipients = self._post(
            ",".join(m.to for m in messages),
            first.body,
            first.sender,
            ",".join(m.idempotency_key for m in messages) if first.idempotency_key else "",
        )
        return _match_outcomes(recipients, messages)

    def close(self) -> None:
        """Close this process's idle connections; the next send opens fresh ones."""
        self._transport.close()

    def _check_bulk(self, messages: Sequence[OutboundMessage]) -> None:
        """Refuse a batch AT cannot carry in one request."""
        self._check_bulk_size(messages)
        first = messages[0]
        for message in messages:
            if message.body != first.body:
                raise ValueError("every message of a bulk send must share one body")
            if message.sender != first.sender:
                raise ValueError("every message of a bulk send must share one sender")
            # The keys travel comma-joined and positional, so a comma inside one or a
            # missing one would pair every later key with the wrong recipient.
            if "," in message.idempotency_key:
                raise ValueError(f"idempotency key of message {message.message_id} contains a comma")
            if bool(message.idempotency_key) != bool(first.idempotency_key):
                raise ValueError("either every message of a bulk send has an idempotency key or none has")

    def _post(self, to: str, body: str, sender: str | None, idempotency_key: str) -> list[dict]:
        """POST one messaging request and return its recipient entries, raising request-level failures."""
        response = self._exchange(self._form(to, body, sender), self._request_head(idempotency_key))
        _raise_for_http_status(response)
        return _recipients(response.data)

    def _form(self, to: str, body: str, sender: str | None) -> bytes:
        """The form body; only the recipients and text are encoded per request."""
        if sender is None or sender == self.sender_id:
            prefix = self._form_prefix
        else:
            prefix = _form_prefix(self.username, sender)
        return f"{prefix}&to={quote_plus(to)}&message={quote_plus(body)}".encode("ascii")

    def _request_head(self, idempotency_key: str) -> bytes:
        """The constant request head plus this request's idempotency key, if any."""
        if not idempotency_key:
            return self._head
        return b"%sIdempotency-Key: %s\r\n" % (self._head, idempotency_key.encode("latin-1"))

    def _exchange(self, form: bytes, head: bytes) -> http_exchange.WireResponse:
        """Run one HTTP exchange on a kept-alive connection (typed errors from the transport)."""
        return self._transport.exchange(head, form)

    def probe(self) -> None:
        """GET AT's user data on a fresh connection; raise the SendError a send would have met."""
        # The user-data endpoint answers at once, so a slow answer counts as a failed probe.
        response = self._transport.probe_exchange(self._probe_head)
        _raise_for_http_status(response)
        _user_data(response.data)

    def _connections(self) -> keepalive.ConnectionStack:
        """This process's connection stack (kept for tests that look inside it)."""
        return self._transport.connections()

    # ---- delivery reports ------------------------------------------------------

    def verify(self, request: WebhookRequest) -> bool:
        """The URL's secret (path segment, or `secret` query field) matches this account's, in constant time."""
        given = request.path_secret if request.path_secret is not None else request.query.get("secret", "")
        if not self._webhook_secret:
            return False
        return hmac.compare_digest(given.encode(), self._webhook_secret)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """An incoming-message callback (form: from, to, text, date, id, linkId); ValueError without `from`."""
        form = request.form
        sender = _form_text(form, "from")
        if not sender:
            raise ValueError("Africa's Talking inbound message has no 'from'")
        return [InboundMessage(sender=sender, to=_form_text(form, "to"), text=form.get("text") or "",
                               inbound_id=_form_text(form, "id") or None,
                               sent_at=gateway_time(_form_text(form, "date"), ("%Y-%m-%d %H:%M:%S",)))]

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        """Turn one AT delivery-report callback into a DeliveryReport; raise ValueError if malformed."""
        message_id = _form_text(form, "id")
        if not message_id:
            raise ValueError("Africa's Talking delivery report has no 'id'")
        provider_status = _form_text(form, "status")
        if not provider_status:
            raise ValueError(f"Africa's Talking delivery report for {message_id!r} has no 'status'")
        if provider_status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown Africa's Talking delivery status {provider_status!r} for {message_id!r}")
        reason = _form_text(form, "failureReason") or None
        return DeliveryReport(
            provider_message_id=message_id,
            status=_herald_status(provider_status, reason),
            provider_status=provider_status,
            failure_reason=reason,
            network_code=_form_text(form, "networkCode") or None,
            raw=dict(form),
        )
