"""Infobip's SMS API as the sandbox speaks it, over the same ledger, dedup and scripted numbers.

POST /sms/2/text/advanced with Authorization: App <SANDBOX_API_KEY> and a JSON body of
messages[], each with its own destinations[] ({to, messageId}) and text. Herald's
Idempotency-Key header holds one key per destination, comma-joined in order. Delivery reports
go to each message's notifyUrl in bulk: one POST of {"results": [...]} per request.
"""
from __future__ import annotations

import hmac
import json
import math
import time

from sandbox import responses as r
from sandbox.gateway import Gateway
from sandbox.recipients import ABSENT, FAILED, report_outcome, split_keys

PATH = "/sms/2/text/advanced"
PENDING_ACCEPTED = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                    "description": "Message sent to next instance"}
# AT's per-recipient statusCode (what the shared rules decide) -> Infobip's REJECTED status.
REFUSALS = {
    403: {"groupId": 5, "groupName": "REJECTED", "id": 52, "name": "REJECTED_DESTINATION",
          "description": "Invalid destination address."},
    406: {"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK",
          "description": "Blocked by the network."},
    500: {"groupId": 5, "groupName": "REJECTED", "id": 9, "name": "REJECTED_SYSTEM_ERROR",
          "description": "Temporary system error."},
}
DELIVERED = ({"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
             {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False})
# What a scripted number's report says in Infobip's terms: (status, error).
REPORTS = {
    FAILED: ({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 4, "name": "UNDELIVERABLE_NOT_DELIVERED"},
             {"groupId": 3, "groupName": "OPERATOR_ERRORS", "id": 4000, "name": "EC_DELIVERY_FAILURE",
              "permanent": True}),
    ABSENT: ({"groupId": 2, "groupName": "UNDELIVERABLE", "id": 4, "name": "UNDELIVERABLE_NOT_DELIVERED"},
             {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER",
              "permanent": False}),
}


def handle(environ: dict, gateway: Gateway) -> r.Response:
    """Answer a send, after the configured latency (blocking: for threaded servers)."""
    response = answer(environ, gateway)
    if gateway.settings.latency_ms > 0:
        time.sleep(gateway.settings.latency_ms / 1000.0)
    return response


def answer(environ: dict, gateway: Gateway) -> r.Response:
    """Authenticate, admit every destination, apply the shared rules per message, answer as Infobip."""
    gateway.note_request()
    if not hmac.compare_digest(environ.get("HTTP_AUTHORIZATION", "").encode(),
                               f"App {gateway.settings.api_key}".encode()):
        return _error(401, "UNAUTHORIZED", "Invalid login details")
    try:
        messages = _messages(r.read_json(environ))
    except r.BodyTooLarge:
        return _error(413, "BAD_REQUEST", "Request body too large")
    except ValueError as exc:
        return _error(400, "BAD_REQUEST", str(exc))
    destinations = [d for m in messages for d in m["destinations"]]
    keys = _keys(environ.get("HTTP_IDEMPOTENCY_KEY"), len(destinations))
    if keys is None:
        return _error(400, "BAD_REQUEST", "Idempotency-Key must hold one non-empty key per destination")
    refusal = gateway.admit([_e164(d["to"]) for d in destinations], keys)
    if refusal is not None:
        return _refused(*refusal, gateway.settings.retry_after_s)
    return r.json_response(200, {"bulkId": f"bulk-{time.monotonic_ns()}", "messages": _submit(gateway, messages, keys)})


def _messages(payload: object) -> list[dict]:
    """messages[] of a request, each with destinations[] ({to}) and text; ValueError otherwise."""
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty array")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"]:
            raise ValueError("every message needs a text")
        destinations = message.get("destinations")
        if not isinstance(destinations, list) or not destinations or not all(
                isinstance(d, dict) and isinstance(d.get("to"), str) and d["to"] for d in destinations):
            raise ValueError("every message needs destinations with a 'to'")
    return messages


def _keys(header: str | None, count: int) -> list[str | None] | None:
    """One key (or None) per destination; None overall when the header does not fit."""
    if header is None:
        return [None] * count
    keys = split_keys(header)
    return keys if len(keys) == count and all(keys) else None


def _e164(to: str) -> str:
    """Infobip writes numbers without '+'; the shared rules want E.164."""
    return to if to.startswith("+") else "+" + to


def _submit(gateway: Gateway, messages: list[dict], keys: list[str | None]) -> list[dict]:
    """Run each message through the shared rules; one answer entry per destination, reports queued in bulk."""
    answered, results, position = [], [], 0
    for message in messages:
        destinations = message["destinations"]
        ours = keys[position:position + len(destinations)]
        position += len(destinations)
        fresh: list[tuple[str, str, str]] = []
        sent = gateway.submit([_e164(d["to"]) for d in destinations], ours, message["text"], fresh.extend)
        ids = {}
        for destination, encoded in zip(destinations, sent.entries):
            entry = json.loads(encoded)
            # Infobip keeps the messageId a client chose; a replayed key answers with the first one.
            message_id = destination.get("messageId") or entry["messageId"]
            ids[entry["messageId"]] = message_id
            answered.append({"to": destination["to"], "messageId": message_id,
                             "status": REFUSALS.get(entry["statusCode"], PENDING_ACCEPTED)})
        results.extend((ids.get(at_id, at_id), number) for at_id, number, _ in fresh)
    url = messages[0].get("notifyUrl")
    if url and results:
        _schedule(gateway, url, results)
    return answered


def _refused(kind: str, wait_s: float, retry_after_s: float) -> r.Response:
    """Infobip's 500 for an outage, 429 with Retry-After for the rate limit."""
    if kind == "http_error":
        return _error(503, "GENERAL_ERROR", "Service Unavailable")
    seconds = retry_after_s or wait_s
    return r.json_response(429, _error_body("TOO_MANY_REQUESTS", "Too many requests"),
                           [("Retry-After", str(max(1, math.ceil(seconds))))])


def _error(status: int, code: str, text: str) -> r.Response:
    """Infobip's requestError body."""
    return r.json_response(status, _error_body(code, text))


def _error_body(code: str, text: str) -> dict:
    """{"requestError": {"serviceException": {...}}}."""
    return {"requestError": {"serviceException": {"messageId": code, "text": text}}}


def _schedule(gateway: Gateway, url: str, accepted: list[tuple[str, str]]) -> None:
    """Queue one bulk report for every accepted message whose number gets one."""
    results = []
    for message_id, number in accepted:
        outcome = report_outcome(number)
        if outcome is None:
            continue
        status, error = REPORTS.get(outcome, DELIVERED)
        results.append({"messageId": message_id, "to": number.lstrip("+"), "status": status, "error": error,
                        "smsCount": 1, "price": {"pricePerMessage": 0.0, "currency": gateway.settings.currency}})
    if results:
        body = json.dumps({"results": results}).encode()
        gateway.reports.schedule_bodies(url, gateway.settings.dlr_delay_ms / 1000.0,
                                        [(body, {"Content-Type": "application/json"})])
