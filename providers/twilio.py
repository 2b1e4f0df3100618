"""Twilio Messages API adapter (SMS): form-encoded POSTs, HTTP Basic auth, signed status callbacks.

Wire format:
  POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json with To, From or
  MessagingServiceSid, Body, StatusCallback; a 201 answers JSON with sid, status, num_segments.
  A refusal answers JSON {"code": <Twilio error code>, "message": ...} with a 4xx/5xx status.
  Status callbacks POST MessageSid, MessageStatus, ErrorCode (form), signed in X-Twilio-Signature:
  base64(HMAC-SHA1(auth token, full URL + each POST field's name and value, sorted by name)).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Mapping
from urllib.parse import quote, urlencode

from providers.base import (GATEWAY_DOWN, Accepted, DeliveryReport, GatewayRejected, InboundMessage, OutboundMessage,
                            PermanentError, Provider, ProviderConfigError, RateLimited, SendError, TemporaryError,
                            UnknownOutcome, WebhookRequest)
from providers.http_exchange import WireResponse
from providers.http_transport import HttpTransport, excerpt, retry_after
from providers.parts import count_segments
from providers.settings_schema import Setting

API_VERSION = "/2010-04-01"
# Twilio error code -> the typed outcome it means (https://www.twilio.com/docs/api/errors).
ERROR_CODES: dict[int, type[SendError]] = {
    20003: GatewayRejected,   # authentication failed
    20404: GatewayRejected,   # no such account or resource
    21606: GatewayRejected,   # From is not a number of this account
    21212: GatewayRejected,   # From is not a valid number
    20429: RateLimited,       # too many requests
    30001: TemporaryError,    # queue overflow
    21211: PermanentError,    # invalid To number
    21214: PermanentError,    # To cannot be reached
    21408: PermanentError,    # sending to this region is not enabled
    21610: PermanentError,    # recipient unsubscribed (replied STOP)
    21612: PermanentError,    # no route to this To number
    21614: PermanentError,    # To is not a mobile number
    21617: PermanentError,    # body too long
}
# MessageStatus of a callback -> Herald status; None means "not final yet".
DELIVERY_STATUSES: dict[str, str | None] = {
    "accepted": None, "scheduled": None, "queued": None, "sending": None, "sent": None,
    "delivered": "delivered", "read": "delivered",
    "undelivered": "failed", "failed": "failed", "canceled": "failed",
}
# Undelivered for these codes says the handset cannot be reached, not that the message was bad.
UNREACHABLE_ERRORS = frozenset({"30003", "30005", "30006"})

SETTINGS = (
    Setting("base_url", str, default="https://api.twilio.com", help="Twilio's API, or the sandbox"),
    Setting("account_sid", str, required=True, help="AC... account SID"),
    Setting("auth_token", str, required=True, help="auth token: Basic auth password and callback signing key"),
    Setting("sender", str, help="From number or alphanumeric id (or use messaging_service_sid)"),
    Setting("messaging_service_sid", str, help="MG... messaging service, instead of sender"),
    Setting("status_callback", str, default="", help="public URL of /webhooks/<account>"),
    Setting("inbound_url", str, default="", help="public URL of /webhooks/<account>/inbound (signed by Twilio)"),
    Setting("honours_idempotency_key", bool, default=False, help="Twilio ignores our key; true for the sandbox"),
    Setting("connect_timeout", float, default=3.0, help="seconds to connect"),
    Setting("read_timeout", float, default=15.0, help="seconds to wait for an answer"),
    Setting("pool_maxsize", int, default=16, help="idle kept-alive connections per process"),
    Setting("proxy_url", str, default="", help="http(s) proxy; filled from HTTPS_PROXY/HTTP_PROXY"),
)


class TwilioSMS(Provider):
    """Sends SMS through Twilio's Messages API and checks its signed status callbacks."""

    name = "twilio"
    channel = "sms"
    settings_schema = SETTINGS

    def __init__(self, *, account_sid: str = "", auth_token: str = "", base_url: str = "https://api.twilio.com",
                 sender: str | None = None, messaging_service_sid: str | None = None, status_callback: str = "",
                 inbound_url: str = "", honours_idempotency_key: bool = False, connect_timeout: float = 3.0, read_timeout: float = 15.0,
                 pool_maxsize: int = 16, proxy_url: str = "") -> None:
        """Check settings and pre-build the constant request heads."""
        if not account_sid or not auth_token:
            raise _config_error("account_sid and auth_token are required")
        if not (sender or messaging_service_sid):
            raise _config_error("sender or messaging_service_sid is required")
        self.account_sid, self._token = account_sid, auth_token.encode()
        self._origin = {"MessagingServiceSid": messaging_service_sid} if messaging_service_sid else {"From": sender}
        self._callback, self._inbound_url = status_callback or "", inbound_url or ""
        self.honours_idempotency_key = bool(honours_idempotency_key)
        self._transport = HttpTransport(self.name, base_url, connect_timeout=float(connect_timeout),
                                        read_timeout=float(read_timeout), pool_maxsize=int(pool_maxsize),
                                        proxy_url=proxy_url or "")
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        fields = {"Authorization": f"Basic {basic}", "Accept": "application/json", "User-Agent": "herald-twilio/1"}
        account_path = f"{API_VERSION}/Accounts/{quote(account_sid, safe='')}"
        self._head = self._transport.request_head(
            "POST", f"{account_path}/Messages.json",
            {**fields, "Content-Type": "application/x-www-form-urlencoded"})
        self._probe_head = self._transport.request_head("GET", f"{account_path}.json", fields)

    def __repr__(self) -> str:
        """Describe the adapter without its token."""
        return f"TwilioSMS(base_url={self._transport.base_url!r}, account_sid={self.account_sid!r})"

    def send(self, message: OutboundMessage) -> Accepted:
        """POST one message; return Accepted or raise the typed error Twilio's answer means."""
        form = {"To": message.to, **self._origin, "Body": message.body}
        if message.sender and "From" in self._origin:
            form["From"] = message.sender
        if self._callback:
            form["StatusCallback"] = self._callback
        head = self._head
        if message.idempotency_key:
            # Twilio ignores it; the sandbox deduplicates on it.
            head += b"Idempotency-Key: %s\r\n" % message.idempotency_key.encode("latin-1")
        response = self._transport.exchange(head, urlencode(form).encode())
        _raise_for_status(response)
        return _accepted(response.data, message.body)

    def probe(self) -> None:
        """GET the account resource on a fresh connection; raise the SendError a send would have met."""
        _raise_for_status(self._transport.probe_exchange(self._probe_head))

    def close(self) -> None:
        """Close this process's idle connections."""
        self._transport.close()

    def verify(self, request: WebhookRequest) -> bool:
        """X-Twilio-Signature matches the HMAC-SHA1 of the URL and sorted form fields, in constant time."""
        given = request.headers.get("x-twilio-signature", "")
        url = self._callback or request.url
        expected = sign(self._token, url, request.form)
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    def verify_inbound(self, request: WebhookRequest) -> bool:
        """An incoming-message webhook: signed over the inbound URL, and for this account's SID."""
        given = request.headers.get("x-twilio-signature", "")
        expected = sign(self._token, self._inbound_url or request.url, request.form)
        return (bool(given) and hmac.compare_digest(given.encode(), expected.encode())
                and request.form.get("AccountSid", self.account_sid) == self.account_sid)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """An incoming-message webhook (From, To, Body, MessageSid); Twilio gives no send time."""
        form = request.form
        sender = str(form.get("From") or "").strip()
        if not sender:
            raise ValueError("Twilio inbound message has no 'From'")
        return [InboundMessage(sender=sender, to=str(form.get("To") or "").strip(), text=form.get("Body") or "",
                               inbound_id=str(form.get("MessageSid") or form.get("SmsSid") or "").strip() or None)]

    def inbound_answer(self) -> tuple[str, str]:
        """Empty TwiML: Herald replies (if at all) through its own fast lane, never in the webhook's answer."""
        return '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', "text/xml"

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        """Turn one status callback into a DeliveryReport; raise ValueError if malformed."""
        sid = str(form.get("MessageSid") or "").strip()
        status = str(form.get("MessageStatus") or "").strip()
        if not sid or not status:
            raise ValueError("Twilio status callback needs MessageSid and MessageStatus")
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown Twilio MessageStatus {status!r} for {sid!r}")
        error = str(form.get("ErrorCode") or "").strip() or None
        herald = DELIVERY_STATUSES[status]
        if status == "undelivered" and error in UNREACHABLE_ERRORS:
            herald = "unreachable"
        return DeliveryReport(provider_message_id=sid, status=herald, provider_status=status,
                              failure_reason=error, raw=dict(form))


def sign(token: bytes, url: str, form: Mapping[str, str]) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 of the URL followed by each field name+value, sorted."""
    data = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(hmac.new(token, data.encode(), hashlib.sha1).digest()).decode()


def _config_error(detail: str) -> ProviderConfigError:
    """A ProviderConfigError for this adapter."""
    return ProviderConfigError(f"twilio: {detail}")


def _raise_for_status(response: WireResponse) -> None:
    """Raise the typed error a non-2xx answer means, by Twilio error code first, then HTTP status."""
    status = response.status
    if 200 <= status < 300:
        return
    code, detail = _error_code(response.data)
    kind = ERROR_CODES.get(code) if code is not None else None
    name = f"twilio_{code}" if code is not None else f"gateway_http_{status}"
    if kind is RateLimited or status == 429:
        raise RateLimited(name, detail, retry_after=retry_after(response.headers))
    if kind is not None:
        raise kind(name, detail)
    if status in (401, 403, 404) or 300 <= status < 400:
        raise GatewayRejected(name, detail)
    if status in (502, 504):
        # A proxy in front of Twilio lost its answer: Twilio may have taken the request.
        raise UnknownOutcome(name, detail, gateway_fault=GATEWAY_DOWN)
    if 400 <= status < 500 and status != 408:
        raise PermanentError(name, detail)
    raise TemporaryError(name, detail, gateway_fault=GATEWAY_DOWN if status >= 500 else None)


def _error_code(data: bytes) -> tuple[int | None, str]:
    """Twilio's error code and message from an error body (None when it is not Twilio's JSON)."""
    try:
        payload = json.loads(data)
    except ValueError:
        return None, excerpt(data)
    if not isinstance(payload, dict):
        return None, excerpt(data)
    code = payload.get("code")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), str(payload.get("message", ""))


def _accepted(data: bytes, body: str) -> Accepted:
    """Accepted from a 2xx Message resource; UnknownOutcome when it carries no sid to track."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise UnknownOutcome("unparseable_response", excerpt(data)) from None
    sid = payload.get("sid") if isinstance(payload, dict) else None
    if not isinstance(sid, str) or not sid:
        raise UnknownOutcome("missing_message_id", excerpt(data))
    segments = str(payload.get("num_segments") or "")
    return Accepted(provider_message_id=sid, segments=int(segments) if segments.isdigit() and int(segments) > 0
                    else count_segments(body))
