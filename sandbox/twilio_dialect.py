"""Twilio's Messages API as the sandbox speaks it, over the same ledger, dedup and scripted numbers.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic auth (the account SID and
SANDBOX_API_KEY as its auth token), form fields To, From or MessagingServiceSid, Body,
StatusCallback. Status callbacks go to the StatusCallback URL, signed the way Twilio signs them.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
from urllib.parse import urlencode

from sandbox import responses as r
from sandbox.gateway import Gateway
from sandbox.recipients import ABSENT, FAILED, report_outcome

PATH_PREFIX = "/2010-04-01/Accounts/"
PATH_SUFFIX = "/Messages.json"
# AT's per-recipient statusCode (what the shared rules decide) -> Twilio's answer to a refused send.
REFUSALS = {
    403: (400, 21211, "The 'To' number is not a valid phone number."),
    406: (400, 21610, "Attempt to send to unsubscribed recipient"),
    500: (500, 20500, "Internal Server Error"),
}
# What a scripted number's report says in Twilio's terms: (MessageStatus, ErrorCode).
REPORTS = {FAILED: ("undelivered", "30008"), ABSENT: ("undelivered", "30003")}


def matches(path: str) -> bool:
    """Whether a path is the Messages resource of some account."""
    return path.startswith(PATH_PREFIX) and path.endswith(PATH_SUFFIX)


def handle(environ: dict, gateway: Gateway) -> r.Response:
    """Answer a send, after the configured latency (blocking: for threaded servers)."""
    response = answer(environ, gateway)
    if gateway.settings.latency_ms > 0:
        time.sleep(gateway.settings.latency_ms / 1000.0)
    return response


def answer(environ: dict, gateway: Gateway) -> r.Response:
    """Authenticate, admit, apply the shared recipient rules, answer as Twilio."""
    gateway.note_request()
    sid = environ["PATH_INFO"][len(PATH_PREFIX):-len(PATH_SUFFIX)]
    if not _authorised(environ.get("HTTP_AUTHORIZATION", ""), sid, gateway.settings.api_key):
        return _error(401, 20003, "Authenticate")
    try:
        form = r.read_form(environ)
    except r.BodyTooLarge:
        return _error(413, 21617, "Request body too large")
    to, body = form.get("To", ""), form.get("Body", "")
    if not to or not body or not (form.get("From") or form.get("MessagingServiceSid")):
        return _error(400, 21604, "A 'To', 'Body' and 'From' or 'MessagingServiceSid' are required")
    key = environ.get("HTTP_IDEMPOTENCY_KEY") or None
    refusal = gateway.admit([to], [key])
    if refusal is not None:
        return _refused(*refusal, gateway.settings.retry_after_s)
    callback = form.get("StatusCallback", "")
    on_accepted = (lambda accepted: _schedule(gateway, callback, sid, accepted)) if callback else (lambda _: None)
    entry = json.loads(gateway.submit([to], [key], body, on_accepted).entries[0])
    return _answer(entry, sid, to)


def message_sid(at_id: str) -> str:
    """The Twilio-style SID of a message the shared rules accepted."""
    return "SM" + at_id.removeprefix("ATXid_")


def _authorised(header: str, sid: str, token: str) -> bool:
    """HTTP Basic credentials of the path's account and the sandbox key, checked in constant time."""
    scheme, _, encoded = header.partition(" ")
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return scheme == "Basic" and hmac.compare_digest(given, f"{sid}:{token}".encode())


def _answer(entry: dict, sid: str, to: str) -> r.Response:
    """201 with the Message resource, or Twilio's error for a refused recipient."""
    code = entry["statusCode"]
    if code in REFUSALS:
        return _error(*REFUSALS[code])
    cost = entry["cost"].split()
    return r.json_response(201, {
        "sid": message_sid(entry["messageId"]), "account_sid": sid, "to": to, "status": "queued",
        "num_segments": str(entry["messageParts"]), "price": f"-{cost[-1]}", "price_unit": cost[0],
        "error_code": None, "api_version": "2010-04-01"})


def _refused(kind: str, wait_s: float, retry_after_s: float) -> r.Response:
    """Twilio's 503 for an outage, 429 (code 20429) with Retry-After for the rate limit."""
    if kind == "http_error":
        return _error(503, 20500, "Service Unavailable")
    seconds = retry_after_s or wait_s
    return r.json_response(429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                           [("Retry-After", str(max(1, math.ceil(seconds))))])


def _error(status: int, code: int, message: str) -> r.Response:
    """Twilio's error body."""
    return r.json_response(status, {"code": code, "message": message, "status": status,
                                    "more_info": f"https://www.twilio.com/docs/errors/{code}"})


def _schedule(gateway: Gateway, url: str, sid: str, accepted: list[tuple[str, str, str]]) -> None:
    """Queue a signed status callback per accepted message whose number gets one."""
    token = gateway.settings.api_key.encode()
    bodies = []
    for at_id, number, _network in accepted:
        outcome = report_outcome(number)
        if outcome is None:
            continue
        status, error = REPORTS.get(outcome, ("delivered", None))
        form = {"MessageSid": message_sid(at_id), "SmsSid": message_sid(at_id), "MessageStatus": status,
                "SmsStatus": status, "AccountSid": sid, "To": number, "ApiVersion": "2010-04-01",
                **({"ErrorCode": error} if error else {})}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(token, url, form)}
        bodies.append((urlencode(form), headers))
    gateway.reports.schedule_bodies(url, gateway.settings.dlr_delay_ms / 1000.0, bodies)


def sign(token: bytes, url: str, form: dict) -> str:
    """Twilio's signature: base64 HMAC-SHA1 of the URL and each field's name and value, sorted by name."""
    data = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(hmac.new(token, data.encode(), hashlib.sha1).digest()).decode()
