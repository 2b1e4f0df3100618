"""Each provider's wire dialect for the contract test: settings, scripted answers and real-shaped reports.

A new HTTP provider adds one Dialect row here; tests/providers/test_provider_contract.py runs every
row. SMPP's rows say what the sandbox SMSC is told instead, at the end.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

from at_gateway import Recorded, Reply, at_recipient, at_response
from providers.base import PermanentError, RateLimited, TemporaryError, WebhookRequest
from providers.twilio import sign

SECRET = "report-secret"
TWILIO_TOKEN = "twilio-token"
REPORT_URL = "https://herald.example/webhooks/acct"


@dataclass(frozen=True)
class Dialect:
    """How one gateway speaks: what it is told, what it answers, what it reports."""

    settings: Callable[[str], dict]
    accept: Callable[[Recorded], Reply]
    invalid_number: Reply
    invalid_number_code: str
    rate_limited: Reply
    server_error: Reply
    #: (provider message id, gateway status) -> a callback as the gateway posts it; signed unless `forged`
    report: Callable[[str, str, bool], WebhookRequest]
    delivered_status: str
    failed_status: str


def _form_request(url: str, form: dict, headers: dict | None = None, path_secret: str | None = None) -> WebhookRequest:
    """A form-encoded callback view."""
    return WebhookRequest(method="POST", url=url, headers=headers or {}, form=form,
                          body=urlencode(form).encode(), path_secret=path_secret)


# ---- Africa's Talking -----------------------------------------------------------------------

def _at_accept(request: Recorded) -> Reply:
    """Accept every number of the request."""
    return Reply(201, at_response(*(at_recipient(n) for n in request.form["to"][0].split(","))))


def _at_report(message_id: str, status: str, forged: bool) -> WebhookRequest:
    """An AT delivery report, posted to the secret URL (a wrong secret when forged)."""
    form = {"id": message_id, "status": status, "phoneNumber": "+260971234567", "networkCode": "64502",
            **({"failureReason": "UserInBlacklist"} if status == "Failed" else {})}
    secret = "guess" if forged else SECRET
    return _form_request(f"{REPORT_URL}/{secret}", form, path_secret=secret)


AFRICASTALKING = Dialect(
    settings=lambda url: {"base_url": url, "username": "u", "api_key": "k", "webhook_secret": SECRET},
    accept=_at_accept,
    invalid_number=Reply(201, at_response(at_recipient("+260971234567", 403, "InvalidPhoneNumber",
                                                       messageId="None", cost="0"))),
    invalid_number_code="InvalidPhoneNumber",
    rate_limited=Reply(429, b"Too Many Requests", {"Retry-After": "2"}),
    server_error=Reply(503, b"Service Unavailable"),
    report=_at_report, delivered_status="Success", failed_status="Failed",
)


# ---- Twilio ----------------------------------------------------------------------------------

def _twilio_accept(request: Recorded) -> Reply:
    """A 201 Message resource for the one message of the request."""
    to = request.form["To"][0]
    return Reply(201, {"sid": f"SM{to.lstrip('+')}", "status": "queued", "to": to, "num_segments": "1",
                       "price": None, "error_code": None})


def _twilio_report(message_id: str, status: str, forged: bool) -> WebhookRequest:
    """A status callback signed with the auth token (with another token when forged)."""
    form = {"MessageSid": message_id, "SmsSid": message_id, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": "AC123", "To": "+260971234567", "From": "+15005550006", "ApiVersion": "2010-04-01",
            **({"ErrorCode": "30007"} if status == "undelivered" else {})}
    token = b"not-the-token" if forged else TWILIO_TOKEN.encode()
    return _form_request(REPORT_URL, form, {"x-twilio-signature": sign(token, REPORT_URL, form)})


TWILIO = Dialect(
    settings=lambda url: {"base_url": url, "account_sid": "AC123", "auth_token": TWILIO_TOKEN,
                          "sender": "+15005550006", "status_callback": REPORT_URL},
    accept=_twilio_accept,
    invalid_number=Reply(400, {"code": 21211, "message": "The 'To' number is not a valid phone number.",
                               "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}),
    invalid_number_code="twilio_21211",
    rate_limited=Reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "2"}),
    server_error=Reply(503, {"code": 20500, "message": "Internal Server Error", "status": 503}),
    report=_twilio_report, delivered_status="delivered", failed_status="undelivered",
)


# ---- Infobip ---------------------------------------------------------------------------------

PENDING_ACCEPTED = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                    "description": "Message sent to next instance"}
REJECTED_DESTINATION = {"groupId": 5, "groupName": "REJECTED", "id": 52, "name": "REJECTED_DESTINATION",
                        "description": "Invalid destination address."}


def _infobip_answer(request: Recorded, status: dict) -> Reply:
    """A 200 listing every destination of the request with `status`."""
    destinations = [d for m in json.loads(request.raw_body)["messages"] for d in m["destinations"]]
    return Reply(200, {"bulkId": "bulk-1", "messages": [
        {"to": d["to"], "messageId": d["messageId"], "status": status} for d in destinations]})


def _infobip_report(message_id: str, status: str, forged: bool) -> WebhookRequest:
    """A bulk delivery report with one result, posted to the secret URL."""
    group, name, error = {
        "DELIVERED": ("DELIVERED", "DELIVERED_TO_HANDSET", {"groupId": 0, "groupName": "OK", "id": 0,
                                                             "name": "NO_ERROR", "permanent": False}),
        "UNDELIVERABLE": ("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED",
                          {"groupId": 2, "groupName": "USER_ERRORS", "id": 33, "name": "EC_UNKNOWN_ALPHABET",
                           "permanent": True}),
    }[status]
    result = {"bulkId": "bulk-1", "messageId": message_id, "to": "260971234567", "sentAt": "2026-12-02T00:00:00.000+0000",
              "doneAt": "2026-12-02T00:00:05.000+0000", "smsCount": 1,
              "price": {"pricePerMessage": 0.01, "currency": "EUR"},
              "status": {"groupId": 3 if group == "DELIVERED" else 2, "groupName": group, "id": 5, "name": name},
              "error": error}
    secret = "guess" if forged else SECRET
    body = json.dumps({"results": [result]}).encode()
    return WebhookRequest(method="POST", url=f"{REPORT_URL}/{secret}", headers={"content-type": "application/json"},
                          form={}, body=body, path_secret=secret)


INFOBIP = Dialect(
    settings=lambda url: {"base_url": url, "api_key": "k", "sender": "HERALD", "webhook_secret": SECRET},
    accept=lambda request: _infobip_answer(request, PENDING_ACCEPTED),
    invalid_number=Reply(200, b""),  # replaced per request by invalid_number_for
    invalid_number_code="REJECTED_DESTINATION",
    rate_limited=Reply(429, {"requestError": {"serviceException": {"messageId": "TOO_MANY_REQUESTS",
                                                                   "text": "Too many requests"}}}, {"Retry-After": "2"}),
    server_error=Reply(500, {"requestError": {"serviceException": {"messageId": "GENERAL_ERROR",
                                                                   "text": "Something went wrong"}}}),
    report=_infobip_report, delivered_status="DELIVERED", failed_status="UNDELIVERABLE",
)

DIALECTS: dict[str, Dialect] = {"africastalking": AFRICASTALKING, "twilio": TWILIO, "infobip": INFOBIP}


def invalid_number_reply(name: str) -> Callable[[Recorded], Reply]:
    """The script answering a send to an invalid number the way gateway `name` does."""
    if name == "infobip":
        return lambda request: _infobip_answer(request, REJECTED_DESTINATION)
    reply = DIALECTS[name].invalid_number
    return lambda request: Reply(reply.status, reply.body, dict(reply.headers))


# ---- SMPP, against the sandbox SMSC ----------------------------------------------------------

# A refusal per outcome family: the SMSC's fault setting, the recipient, what the adapter raises.
SMPP_REFUSALS = {
    "syserr-temporary": ({"smpp_syserr_rate": 1.0}, "+260971234567", TemporaryError, "ESME_RSYSERR"),
    "invalid-destination-permanent": ({}, "+260970999999", PermanentError, "ESME_RINVDSTADR"),
    # A bucket of half a token: the very first submit_sm is throttled.
    "throttled-rate-limited": ({"smpp_throttle_per_s": 0.5}, "+260971234567", RateLimited, "ESME_RTHROTTLED"),
}
# The receipt stat the SMSC sends for each scripted recipient, and the status Herald reads from it.
SMPP_RECEIPTS = {"+260971234567": ("DELIVRD", "delivered"), "+260970888888": ("UNDELIV", "failed"),
                 "+260970777777": ("EXPIRED", "unreachable")}
