"""Africa's Talking's wire format: status codes, response and delivery-report parsing, error mapping.

Wire format (AT bulk SMS API):
  POST {base_url}/version1/messaging, headers apiKey / Accept: application/json,
  form fields username, to (comma-separated), message, from (optional), bulkSMSMode=1.
  A 2xx answer carries {"SMSMessageData": {"Message": ..., "Recipients": [...]}}, one
  recipient entry per number with statusCode, number, status, cost, messageId, messageParts.
"""
from __future__ import annotations

import json
from collections import deque
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Mapping, Sequence

from providers.http_exchange import WireResponse
from providers.http_transport import excerpt, retry_after

from providers.base import (
    GATEWAY_DOWN,
    Accepted,
    GatewayRejected,
    OutboundMessage,
    PermanentError,
    RateLimited,
    SendError,
    SendResult,
    TemporaryError,
    UnknownOutcome,
)
from providers.parts import count_segments

# Per-recipient statusCode values, split by what Herald should do about them.
ACCEPTED_CODES = {100: "Processed", 101: "Sent", 102: "Queued"}
TEMPORARY_CODES = {
    401: "RiskHold",
    405: "InsufficientBalance",
    407: "CouldNotRoute",
    500: "InternalServerError",
    501: "GatewayError",
}
PERMANENT_CODES = {
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    406: "UserInBlacklist",
    409: "DoNotDisturbRejection",
    502: "RejectedByGateway",
}
STATUS_NAMES = {**ACCEPTED_CODES, **TEMPORARY_CODES, **PERMANENT_CODES}
# AT answers some account-level refusals (e.g. an unknown sender id) with a 2xx, an
# empty Recipients list and the status name as the top-level Message.
_CODES_BY_NAME = {name: code for code, name in STATUS_NAMES.items() if code not in ACCEPTED_CODES}

# Delivery-report status -> Herald status; None means "not final yet".
DELIVERY_STATUSES: dict[str, str | None] = {
    "Sent": None,
    "Submitted": None,
    "Buffered": None,
    "Success": "delivered",
    "Failed": "failed",
    "Rejected": "failed",
    "AbsentSubscriber": "unreachable",
    "Expired": "unreachable",
}
# A Failed report for these reasons says the subscriber cannot be reached, not that the
# message was bad, so Herald files it as unreachable.
UNREACHABLE_REASONS = frozenset(
    {"UserIsInactive", "UserDoesNotExist", "NotNetworkSubscriber", "UserAccountSuspended", "AbsentSubscriber"}
)

# Bulk sends and single sends of the same campaign repeat one body many times.
_segments_for = lru_cache(maxsize=1024)(count_segments)



def _raise_for_http_status(response: WireResponse) -> None:
    """Raise the typed error a non-2xx answer means for every message of the request."""
    status = response.status
    if 200 <= status < 300:
        return
    if status == 429:
        raise RateLimited("rate_limited", excerpt(response.data), retry_after=retry_after(response.headers))
    if status in (401, 403):
        # Bad credentials are an operator's problem; the messages themselves are fine.
        raise GatewayRejected("gateway_auth", excerpt(response.data))
    if status == 404 or 300 <= status < 400:
        # No such endpoint, or a redirect: base_url is wrong for every message alike.
        raise GatewayRejected(f"gateway_http_{status}", excerpt(response.data))
    if status in (502, 504):
        # A proxy in front of AT lost its answer: AT may have taken the request.
        raise UnknownOutcome(f"gateway_http_{status}", excerpt(response.data), gateway_fault=GATEWAY_DOWN)
    if 400 <= status < 500 and status != 408:
        raise PermanentError(f"gateway_http_{status}", excerpt(response.data))
    # 5xx: AT failing as a whole; 408: AT gave up reading the request (nothing taken).
    fault = GATEWAY_DOWN if status >= 500 else None
    raise TemporaryError(f"gateway_http_{status}", excerpt(response.data), gateway_fault=fault)


def _recipients(data: bytes) -> list[dict]:
    """The Recipients list of a 2xx body; UnknownOutcome if the body cannot be read."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise UnknownOutcome("unparseable_response", excerpt(data)) from None
    message_data = payload.get("SMSMessageData") if isinstance(payload, dict) else None
    recipients = message_data.get("Recipients") if isinstance(message_data, dict) else None
    if not isinstance(recipients, list):
        raise UnknownOutcome("unparseable_response", excerpt(data))
    if not recipients:
        _raise_for_refusal(message_data.get("Message"))
    return recipients


def _user_data(data: bytes) -> dict:
    """The UserData object of a 2xx user-data answer; UnknownOutcome if the body is not one."""
    try:
        payload = json.loads(data)
    except ValueError:
        raise UnknownOutcome("unparseable_response", excerpt(data)) from None
    user = payload.get("UserData") if isinstance(payload, dict) else None
    if not isinstance(user, dict):
        raise UnknownOutcome("unparseable_response", excerpt(data))
    return user


def _raise_for_refusal(summary: object) -> None:
    """Raise the mapped error when AT refused the whole request by status name."""
    code = _CODES_BY_NAME.get(summary) if isinstance(summary, str) else None
    if code is not None:
        raise _recipient_error(code, STATUS_NAMES[code])


def _match_outcomes(recipients: list[dict], messages: Sequence[OutboundMessage]) -> list[SendResult]:
    """Pair recipient entries with messages by number, then by order; unpaired -> UnknownOutcome."""
    if len(messages) == 1 and len(recipients) == 1:
        # One of each pairs the same by number or by order; skip the bookkeeping on the hot path.
        return [_outcome(recipients[0], messages[0].body)]
    paired: list[dict | None] = [None] * len(messages)
    waiting: dict[str, deque[int]] = {}
    for index, entry in enumerate(recipients):
        number = entry.get("number") if isinstance(entry, dict) else None
        waiting.setdefault(_digits(number), deque()).append(index)
    used: set[int] = set()
    for position, message in enumerate(messages):
        candidates = waiting.get(_digits(message.to))
        if candidates:
            index = candidates.popleft()
            used.add(index)
            paired[position] = recipients[index]
    _pair_leftovers_by_order(paired, recipients, used)
    return [_outcome(entry, message.body) for entry, message in zip(paired, messages)]


def _pair_leftovers_by_order(paired: list[dict | None], recipients: list[dict], used: set[int]) -> None:
    """When AT rewrote numbers, the unmatched entries still line up with the unmatched messages."""
    open_positions = [position for position, entry in enumerate(paired) if entry is None]
    leftovers = [entry for index, entry in enumerate(recipients) if index not in used]
    # Only an exact count makes order trustworthy; otherwise guessing could misattribute.
    if open_positions and len(open_positions) == len(leftovers):
        for position, entry in zip(open_positions, leftovers):
            paired[position] = entry


def _digits(number: object) -> str:
    """A phone number reduced to its digits, so '+260 97...' and '26097...' compare equal."""
    if not isinstance(number, str):
        return ""
    return "".join(char for char in number if char.isdigit())


def _outcome(entry: dict | None, body: str) -> SendResult:
    """What one recipient entry means for its message."""
    if not isinstance(entry, dict):
        return UnknownOutcome("missing_from_response", "AT answered without an entry for this number")
    code = _status_code(entry.get("statusCode"))
    if code is None:
        return UnknownOutcome("malformed_recipient", f"statusCode={entry.get('statusCode')!r}")
    if code in ACCEPTED_CODES:
        return _accepted(entry, body)
    name = STATUS_NAMES.get(code) or str(entry.get("status") or f"status_{code}")
    return _recipient_error(code, name)


def _recipient_error(code: int, name: str) -> SendError:
    """The typed error for a refusing statusCode; unknown codes are permanent."""
    detail = f"statusCode={code}"
    if code in TEMPORARY_CODES:
        return TemporaryError(name, detail)
    return PermanentError(name, detail)


def _status_code(value: object) -> int | None:
    """statusCode as an int (AT sends a number; tolerate a numeric string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _accepted(entry: dict, body: str) -> SendResult:
    """Accepted for a taken message, or UnknownOutcome if AT gave no id to track it by."""
    message_id = entry.get("messageId")
    # AT writes the literal "None" where it assigned no id.
    if not isinstance(message_id, str) or not message_id or message_id == "None":
        return UnknownOutcome("missing_message_id", f"statusCode={entry.get('statusCode')}")
    cost, currency = _parse_cost(entry.get("cost"))
    return Accepted(
        provider_message_id=message_id,
        cost=cost,
        currency=currency,
        segments=_parts(entry.get("messageParts")) or _segments_for(body),
    )


def _parse_cost(value: object) -> tuple[Decimal | None, str | None]:
    """Split 'ZMW 0.2500' into (Decimal, currency); a bare '0' has no currency.

    A cost that does not parse is dropped rather than failing a message AT already took.
    """
    if not isinstance(value, str):
        return None, None
    parts = value.split()
    if len(parts) == 2 and len(parts[0]) == 3 and parts[0].isalpha():
        currency, amount = parts[0].upper(), parts[1]
    elif len(parts) == 1:
        currency, amount = None, parts[0]
    else:
        return None, None
    try:
        cost = Decimal(amount)
    except InvalidOperation:
        return None, None
    return (cost, currency) if cost.is_finite() else (None, None)


def _parts(value: object) -> int | None:
    """messageParts as a positive int, or None when AT left it out."""
    number = _status_code(value)
    return number if number and number > 0 else None


# ---- delivery-report helpers ---------------------------------------------------------


def _form_text(form: Mapping[str, str], name: str) -> str:
    """One callback field as stripped text ('' when absent)."""
    value = form.get(name)
    return "" if value is None else str(value).strip()


def _herald_status(provider_status: str, failure_reason: str | None) -> str | None:
    """Herald's status for an AT delivery status and failure reason."""
    status = DELIVERY_STATUSES[provider_status]
    if provider_status == "Failed" and failure_reason in UNREACHABLE_REASONS:
        return "unreachable"
    return status

