"""The contract every gateway adapter keeps: typed messages in, typed outcomes out.

An adapter only speaks its gateway's wire format. Retry policy, leases and
message state live in the services and tasks, never here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Mapping, Sequence


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message ready for the wire: rendered text, address (E.164, or email), stable key."""

    message_id: int
    to: str
    body: str
    idempotency_key: str
    sender: str | None = None
    #: the recipient's carrier, for per-route limits and failover (None if unknown)
    carrier: str | None = None
    #: email only: the subject line (`body` is then the plain-text part)
    subject: str | None = None
    #: email only: the HTML part, sent beside the text as multipart/alternative
    html: str | None = None
    #: email only: the one-click unsubscribe URL (List-Unsubscribe, RFC 8058)
    unsubscribe_url: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The gateway took the message: its id for it, and what it will cost."""

    provider_message_id: str
    cost: Decimal | None = None
    currency: str | None = None
    segments: int = 1
    #: every part's id, in order, when the gateway gives each part its own (SMPP); else empty
    part_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A parsed delivery report; `status` is Herald's status or None if not final."""

    provider_message_id: str
    status: str | None
    provider_status: str
    failure_reason: str | None = None
    network_code: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a person sent to one of our numbers, as its gateway reported it.

    `sent_at` is the gateway's own timestamp (None when the gateway gives none: the receiving
    time stands in); `inbound_id` is the gateway's id for it (None when it has none).
    """

    sender: str
    to: str
    text: str
    inbound_id: str | None = None
    sent_at: datetime | None = None


def gateway_time(value: str, formats: Sequence[str] = ()) -> datetime | None:
    """A gateway timestamp as an aware datetime (UTC when it names no zone); None if unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    for fmt in formats:
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# What a failure says about the gateway as a whole (SendError.gateway_fault).
GATEWAY_DOWN = "down"
GATEWAY_REJECTED = "rejected"


class SendError(Exception):
    """Root of every send failure an adapter reports."""

    retryable = True
    #: "down" (unreachable or failing as a whole), "rejected" (refused our account or URL),
    #: or None when the failure is about this message or is a 429 (the gateway itself works)
    gateway_fault: str | None = None

    def __init__(self, code: str, detail: str = "", *, gateway_fault: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        if gateway_fault is not None:
            self.gateway_fault = gateway_fault


class TemporaryError(SendError):
    """The gateway did not take the message this time; trying again later may work."""

    def __init__(self, code: str, detail: str = "", retry_after: float | None = None, *,
                 gateway_fault: str | None = None) -> None:
        super().__init__(code, detail, gateway_fault=gateway_fault)
        self.retry_after = retry_after


class RateLimited(TemporaryError):
    """The gateway refused for rate (HTTP 429); slow down, then retry."""


class NotSent(TemporaryError):
    """The request never reached the gateway (refused, unreachable, cut mid-write): no attempt spent."""

    gateway_fault = GATEWAY_DOWN


class Withheld(NotSent):
    """Herald kept the message back right before the call (its recipient opted out meanwhile): never sent."""

    gateway_fault = None


class GatewayRejected(SendError):
    """The gateway refused the request as a whole (credentials, endpoint): the account's fault, not the message's."""

    retryable = False
    gateway_fault = GATEWAY_REJECTED


class PermanentError(SendError):
    """The gateway will never take this message (bad number, blacklisted, ...)."""

    retryable = False


class UnknownOutcome(SendError):
    """The request may have reached the gateway but no answer came back."""

    retryable = False


class ProviderConfigError(Exception):
    """The adapter is missing configuration it needs (credentials, base URL)."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What an adapter sees of a report callback: plain data, so adapters never import a web framework."""

    method: str
    #: the full URL the gateway posted to, query string included
    url: str
    #: header fields by lower-case name
    headers: Mapping[str, str]
    #: form fields (first value of each) when the body was form-encoded, else empty
    form: Mapping[str, str]
    body: bytes
    #: the path segment after the account name (/webhooks/<account>/<secret>), if any
    path_secret: str | None = None
    #: query-string fields (first value of each)
    query: Mapping[str, str] = field(default_factory=dict)


SendResult = Accepted | SendError


class Provider:
    """Base class: a provider is data (class attributes) plus a few verbs."""

    name: str = ""
    channel: str = ""
    #: whether the gateway deduplicates on our idempotency key (safe to resend)
    honours_idempotency_key: bool = False
    #: most recipients one bulk request may carry (1 = no bulk mode)
    max_bulk_recipients: int = 1

    #: most calls one process makes at once (None: as many as HERALD_SEND_THREADS lanes)
    max_lanes: int | None = None

    @property
    def journal_unit(self) -> int:
        """Most messages one journalled call carries: what a status check, the breaker and the
        opt-outs guard at once, and what a crash can leave in doubt (a bulk request, by default)."""
        return self.max_bulk_recipients
    #: whether one bulk request may carry different bodies (personalised messages)
    bulk_bodies_may_differ: bool = False
    #: the settings an account of this provider takes (providers.settings_schema.Setting)
    settings_schema: tuple = ()

    def send(self, message: OutboundMessage) -> Accepted:
        """Send one message; return Accepted or raise a SendError subclass."""
        raise NotImplementedError

    def send_bulk(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send messages sharing one body in one request; one result per message, in order."""
        return [self._send_one(m) for m in messages]

    def _send_through_bulk(self, message: OutboundMessage) -> Accepted:
        """send() for a gateway whose one request is its bulk request: the single result, or its error raised."""
        outcome = self.send_bulk([message])[0]
        if isinstance(outcome, SendError):
            raise outcome
        return outcome

    def _check_bulk_size(self, messages: Sequence[OutboundMessage]) -> None:
        """Refuse more messages than one request of this gateway may carry."""
        if len(messages) > self.max_bulk_recipients:
            raise ValueError(f"{len(messages)} messages exceed max_bulk_recipients={self.max_bulk_recipients}")

    def _send_one(self, message: OutboundMessage) -> SendResult:
        """Send one message, returning a failure as a value instead of raising it."""
        try:
            return self.send(message)
        except SendError as exc:
            return exc

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        """Turn one webhook payload into a DeliveryReport; raise ValueError if malformed."""
        raise NotImplementedError

    def verify(self, request: WebhookRequest) -> bool:
        """Whether a report callback really comes from this account's gateway (constant-time checks)."""
        raise NotImplementedError

    def parse_reports(self, request: WebhookRequest) -> list[DeliveryReport]:
        """Every delivery report one verified callback carries; raise ValueError if malformed."""
        return [self.parse_delivery_report(request.form)]

    def verify_inbound(self, request: WebhookRequest) -> bool:
        """Whether an inbound-message callback comes from this account's gateway (as reports, by default)."""
        return self.verify(request)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Every inbound message one verified callback carries; raise ValueError if malformed."""
        raise ValueError(f"{self.name or 'this gateway'} posts no inbound messages to Herald")

    def inbound_answer(self) -> tuple[str, str] | None:
        """(body, content type) the gateway expects for an inbound callback, or None for Herald's JSON."""
        return None

    def probe(self) -> None:
        """Ask the gateway, without sending anything, whether it answers this account; raise a SendError if not."""
        raise NotImplementedError
