"""POST /version1/messaging: AT's send endpoint, plus Herald's Idempotency-Key header."""
from __future__ import annotations

import math
import time

from sandbox import responses as r
from sandbox import wire
from sandbox.gateway import Gateway
from sandbox.recipients import split_keys, split_numbers

# AT's exact wording, which adapters may match on.
AUTH_FAILED = "The supplied authentication is invalid"


def handle(environ: dict, gateway: Gateway) -> r.Response:
    """Answer a send request, after the configured latency (blocking: for threaded servers)."""
    response = answer(environ, gateway)
    latency_ms = gateway.settings.latency_ms
    if latency_ms > 0:
        # After the work, before the answer: a client that times out has still been served.
        time.sleep(latency_ms / 1000.0)
    return response


def answer(environ: dict, gateway: Gateway) -> r.Response:
    """Validate, admit, apply the recipient rules, encode AT's answer."""
    gateway.note_request()
    try:
        form = r.read_form(environ)
    except r.BodyTooLarge:
        return r.text_response(413, "Request body too large")
    settings = gateway.settings
    if (settings.auth_refused() or environ.get("HTTP_APIKEY") != settings.api_key
            or form.get("username") != settings.username):
        return r.text_response(401, AUTH_FAILED)
    numbers = split_numbers(form.get("to", ""))
    message = form.get("message", "")
    if not numbers or not message:
        return r.text_response(400, "Request is missing required form field 'to' or 'message'")
    keys = _keys(environ.get("HTTP_IDEMPOTENCY_KEY"), len(numbers))
    if keys is None:
        return r.text_response(400, "Idempotency-Key must hold one non-empty key per recipient")
    refusal = gateway.admit(numbers, keys)
    if refusal is not None:
        kind, wait_s = refusal
        return _refused(kind, settings.retry_after_s or wait_s)
    sent = gateway.submit(numbers, keys, message)
    body = wire.send_response(sent.entries, sent.sent, gateway.format_total(sent.cost_units))
    return r.raw(201, "application/json", body)


def _keys(header: str | None, count: int) -> list[str | None] | None:
    """One key (or None) per recipient; None overall when the header does not fit `to`."""
    if header is None:
        return [None] * count
    keys = split_keys(header)
    if len(keys) != count or not all(keys):
        return None
    return keys


def _refused(kind: str, wait_s: float) -> r.Response:
    """503 for a simulated outage, 429 with retry hints for the rate limit."""
    if kind == "http_error":
        return r.text_response(503, "Service Unavailable")
    hints = [
        ("Retry-After", str(max(1, math.ceil(wait_s)))),
        ("X-Retry-After-Ms", str(math.ceil(wait_s * 1000))),
    ]
    return r.json_response(429, {"error": "rate limited"}, hints)
