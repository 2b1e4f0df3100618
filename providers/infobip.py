"""Infobip SMS adapter: many personalised messages in one JSON request, delivery reports in bulk.

Wire format:
  POST {base_url}/sms/2/text/advanced, Authorization: App <api key>, JSON body
  {"messages": [{"destinations": [{"to", "messageId"}], "from", "text", "notifyUrl"}, ...]}.
  A 2xx answers {"bulkId", "messages": [{"to", "messageId", "status": {groupId, groupName, id, name}}]};
  a refusal answers {"requestError": {"serviceException": {"messageId", "text"}}}.
  Delivery reports POST {"results": [{"messageId", "to", "status": {...}, "error": {...}, "price"}]}.
  Infobip does not sign reports: the report URL carries the account's secret, as for Africa's Talking.
"""
from __future__ import annotations

import hmac
import json
from typing import Sequence

from providers.base import (GATEWAY_DOWN, Accepted, DeliveryReport, GatewayRejected, InboundMessage, OutboundMessage,
                            PermanentError, Provider, ProviderConfigError, RateLimited, SendResult, TemporaryError,
                            UnknownOutcome, WebhookRequest, gateway_time)
from providers.http_exchange import WireResponse
from providers.http_transport import HttpTransport, excerpt, retry_after
from providers.parts import count_segments
from providers.settings_schema import Setting

SEND_PATH = "/sms/2/text/advanced"
BALANCE_PATH = "/account/1/balance"
# Status group of a send answer or report (groupName) -> what it means.
PENDING, UNDELIVERABLE, DELIVERED, EXPIRED, REJECTED = "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED"
# REJECTED statuses that are about the account, not the number: retry once the operator fixes it.
TEMPORARY_REJECTIONS = frozenset({"REJECTED_NOT_ENOUGH_CREDITS", "REJECTED_SYSTEM_ERROR"})
# Report status group -> Herald status; None means "not final yet".
DELIVERY_GROUPS: dict[str, str | None] = {
    PENDING: None, DELIVERED: "delivered", UNDELIVERABLE: "failed", EXPIRED: "unreachable", REJECTED: "failed",
}
# DELIVERED_TO_OPERATOR is in the DELIVERED group but not final: the handset may still not get it.
NOT_FINAL_STATUSES = frozenset({"DELIVERED_TO_OPERATOR"})
# Error group 1 is the handset's side (absent, switched off): unreachable rather than failed.
HANDSET_ERROR_GROUP = 1

SETTINGS = (
    Setting("base_url", str, required=True, help="your Infobip base URL (https://xxxxx.api.infobip.com)"),
    Setting("api_key", str, required=True, help="API key, sent as Authorization: App <key>"),
    Setting("sender", str, help="sender id or number"),
    Setting("notify_url", str, default="", help="public URL of /webhooks/<account>/<webhook_secret>"),
    Setting("webhook_secret", str, default="", help="secret of the report URL; Infobip does not sign"),
    Setting("honours_idempotency_key", bool, default=False, help="Infobip ignores our key; true for the sandbox"),
    Setting("max_bulk_recipients", int, default=100, help="messages per request"),
    Setting("connect_timeout", float, default=3.0, help="seconds to connect"),
    Setting("read_timeout", float, default=15.0, help="seconds to wait for an answer"),
    Setting("pool_maxsize", int, default=16, help="idle kept-alive connections per process"),
    Setting("proxy_url", str, default="", help="http(s) proxy; filled from HTTPS_PROXY/HTTP_PROXY"),
)


class InfobipSMS(Provider):
    """Sends SMS through Infobip, personalised bodies in one request, and parses its bulk reports."""

    name = "infobip"
    channel = "sms"
    settings_schema = SETTINGS
    bulk_bodies_may_differ = True

    def __init__(self, *, base_url: str = "", api_key: str = "", sender: str | None = None, notify_url: str = "",
                 webhook_secret: str = "", honours_idempotency_key: bool = False, max_bulk_recipients: int = 100,
                 connect_timeout: float = 3.0, read_timeout: float = 15.0, pool_maxsize: int = 16,
                 proxy_url: str = "") -> None:
        """Check settings and pre-build the constant request heads."""
        if not api_key:
            raise ProviderConfigError("infobip: api_key is required")
        if int(max_bulk_recipients) < 1:
            raise ProviderConfigError("infobip: max_bulk_recipients must be at least 1")
        self.sender, self._notify_url = sender or None, notify_url or ""
        self._webhook_secret = (webhook_secret or "").encode()
        self.honours_idempotency_key = bool(honours_idempotency_key)
        self.max_bulk_recipients = int(max_bulk_recipients)
        self._transport = HttpTransport(self.name, base_url, connect_timeout=float(connect_timeout),
                                        read_timeout=float(read_timeout), pool_maxsize=int(pool_maxsize),
                                        proxy_url=proxy_url or "")
        fields = {"Authorization": f"App {api_key}", "Accept": "application/json", "User-Agent": "herald-infobip/1"}
        self._head = self._transport.request_head("POST", SEND_PATH, {**fields, "Content-Type": "application/json"})
        self._probe_head = self._transport.request_head("GET", BALANCE_PATH, fields)

    def __repr__(self) -> str:
        """Describe the adapter without its key."""
        return f"InfobipSMS(base_url={self._transport.base_url!r})"

    def send(self, message: OutboundMessage) -> Accepted:
        """Send one message; return Accepted or raise a SendError subclass."""
        return self._send_through_bulk(message)

    def send_bulk(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send personalised messages in one request; one result per message, in order."""
        if not messages:
            return []
        self._check_bulk_size(messages)
        keys = [m.idempotency_key for m in messages]
        head = self._head
        if all(keys) and not any("," in key for key in keys):
            # Infobip ignores it; the sandbox deduplicates on it, comma-joined in message order.
            head += b"Idempotency-Key: %s\r\n" % ",".join(keys).encode("latin-1")
        response = self._transport.exchange(head, json.dumps({"messages": [self._entry(m) for m in messages]}).encode())
        _raise_for_status(response)
        return _match(response.data, messages)

    def _entry(self, message: OutboundMessage) -> dict:
        """One element of messages[]: one destination, its own text, our id for it."""
        entry = {"destinations": [{"to": message.to.lstrip("+"), "messageId": _our_id(message)}], "text": message.body}
        if message.sender or self.sender:
            entry["from"] = message.sender or self.sender
        if self._notify_url:
            entry.update(notifyUrl=self._notify_url, notifyContentType="application/json")
        return entry

    def probe(self) -> None:
        """GET the account balance on a fresh connection; raise the SendError a send would have met."""
        _raise_for_status(self._transport.probe_exchange(self._probe_head))

    def close(self) -> None:
        """Close this process's idle connections."""
        self._transport.close()

    def verify(self, request: WebhookRequest) -> bool:
        """The report URL's secret (path segment or `secret` query field) matches, in constant time."""
        given = request.path_secret if request.path_secret is not None else request.query.get("secret", "")
        return bool(self._webhook_secret) and hmac.compare_digest(given.encode(), self._webhook_secret)

    def parse_delivery_report(self, form) -> DeliveryReport:
        """Turn one element of a report's results[] into a DeliveryReport; raise ValueError if malformed."""
        return _report(form)

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Every message of an inbound POST ({"results": [{messageId, from, to, text, receivedAt}]})."""
        return [_inbound(item) for item in _results(request.body, "inbound")]

    def parse_reports(self, request: WebhookRequest) -> list[DeliveryReport]:
        """Every report of one bulk POST ({"results": [...]}); ValueError if the body is not one."""
        return [_report(item) for item in _results(request.body, "report")]


def _results(body: bytes, kind: str) -> list:
    """The non-empty `results` list of an Infobip callback body; ValueError otherwise."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise ValueError(f"Infobip {kind} body is not JSON") from None
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or not results:
        raise ValueError(f"Infobip {kind} body needs a non-empty 'results' list")
    return results


def _inbound(item: object) -> InboundMessage:
    """One element of an inbound POST's results[]; ValueError if it has no sender."""
    if not isinstance(item, dict) or not isinstance(item.get("from"), str) or not item["from"].strip():
        raise ValueError("an Infobip inbound message needs 'from'")
    text = item.get("text") if isinstance(item.get("text"), str) else ""
    to, message_id = item.get("to"), item.get("messageId")
    sender = item["from"].strip()
    # Infobip writes numbers in international format without the '+'.
    sender = "+" + sender if sender.isdigit() else sender
    return InboundMessage(sender=sender, to=to.strip() if isinstance(to, str) else "", text=text,
                          inbound_id=message_id if isinstance(message_id, str) and message_id else None,
                          sent_at=gateway_time(str(item.get("receivedAt") or ""), ("%Y-%m-%dT%H:%M:%S.%f%z",)))


def _our_id(message: OutboundMessage) -> str:
    """The messageId we ask Infobip to use: stable per message, so a report finds it."""
    return message.idempotency_key or f"herald-{message.message_id}"


def _raise_for_status(response: WireResponse) -> None:
    """Raise the typed error a non-2xx answer means for every message of the request."""
    status, detail = response.status, excerpt(response.data)
    if 200 <= status < 300:
        return
    if status == 429:
        raise RateLimited("rate_limited", detail, retry_after=retry_after(response.headers))
    if status in (401, 403, 404) or 300 <= status < 400:
        raise GatewayRejected(f"gateway_http_{status}", detail)
    if status in (502, 504):
        raise UnknownOutcome(f"gateway_http_{status}", detail, gateway_fault=GATEWAY_DOWN)
    if 400 <= status < 500 and status != 408:
        raise PermanentError(f"gateway_http_{status}", detail)
    raise TemporaryError(f"gateway_http_{status}", detail, gateway_fault=GATEWAY_DOWN if status >= 500 else None)


def _match(data: bytes, messages: Sequence[OutboundMessage]) -> list[SendResult]:
    """Pair the answer's messages[] with ours by messageId; an unanswered one is UnknownOutcome."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise UnknownOutcome("unparseable_response", excerpt(data)) from None
    answered = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(answered, list):
        raise UnknownOutcome("unparseable_response", excerpt(data))
    by_id = {item.get("messageId"): item for item in answered if isinstance(item, dict)}
    return [_outcome(by_id.get(_our_id(m)), m.body) for m in messages]


def _outcome(item: dict | None, body: str) -> SendResult:
    """What one answered message means."""
    if item is None:
        return UnknownOutcome("missing_from_response", "Infobip answered without this message")
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    group, name = str(status.get("groupName", "")), str(status.get("name", ""))
    if group == PENDING:
        return Accepted(provider_message_id=str(item["messageId"]), segments=count_segments(body))
    if name in TEMPORARY_REJECTIONS:
        return TemporaryError(name, f"groupName={group}")
    if group in (REJECTED, UNDELIVERABLE):
        return PermanentError(name or group, f"groupName={group}")
    return UnknownOutcome("unknown_status", f"groupName={group!r} name={name!r}")


def _report(item: object) -> DeliveryReport:
    """One results[] element as a DeliveryReport."""
    if not isinstance(item, dict) or not isinstance(item.get("messageId"), str) or not item["messageId"]:
        raise ValueError("Infobip report result needs a messageId")
    status = item.get("status")
    if not isinstance(status, dict) or status.get("groupName") not in DELIVERY_GROUPS:
        raise ValueError(f"Infobip report for {item['messageId']!r} has no known status group")
    group, name = status["groupName"], str(status.get("name", ""))
    herald = None if name in NOT_FINAL_STATUSES else DELIVERY_GROUPS[group]
    error = item.get("error") if isinstance(item.get("error"), dict) else {}
    if herald == "failed" and error.get("groupId") == HANDSET_ERROR_GROUP:
        herald = "unreachable"
    reason = str(error.get("name")) if error.get("name") and error.get("name") != "NO_ERROR" else None
    return DeliveryReport(provider_message_id=item["messageId"], status=herald, provider_status=name or group,
                          failure_reason=reason, raw=item)
