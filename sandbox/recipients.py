"""What the sandbox decides from a phone number alone: validity and scripted outcomes."""
from __future__ import annotations

import re
from typing import NamedTuple

# '+' then 8-15 ASCII digits; \d would also admit other scripts' digits.
_E164 = re.compile(r"\+[0-9]{8,15}")

BLACKLIST_SUFFIX = "999999"
DELIVERY_FAILED_SUFFIX = "888888"
ABSENT_SUBSCRIBER_SUFFIX = "777777"
LOST_REPORT_SUFFIX = "666666"


class ReportOutcome(NamedTuple):
    """The status a delivery report will carry, and its failureReason if any."""

    status: str
    failure_reason: str | None = None


DELIVERED = ReportOutcome("Success")
FAILED = ReportOutcome("Failed", "DeliveryFailure")
ABSENT = ReportOutcome("AbsentSubscriber")


def split_numbers(field: str) -> list[str]:
    """The `to` field as numbers, trimming spaces around commas and dropping empties."""
    return [part.strip() for part in field.split(",") if part.strip()]


def split_keys(header: str) -> list[str]:
    """The Idempotency-Key header as one key per recipient, in order."""
    return [part.strip() for part in header.split(",")]


def is_plausible(number: str) -> bool:
    """Whether a number looks like E.164 at all."""
    return _E164.fullmatch(number) is not None


def is_blacklisted(number: str) -> bool:
    """Whether the scripted blacklist refuses this number for good."""
    return number.endswith(BLACKLIST_SUFFIX)


def report_outcome(number: str) -> ReportOutcome | None:
    """The delivery report a number will get; None when its report is lost."""
    if number.endswith(LOST_REPORT_SUFFIX):
        return None
    if number.endswith(DELIVERY_FAILED_SUFFIX):
        return FAILED
    if number.endswith(ABSENT_SUBSCRIBER_SUFFIX):
        return ABSENT
    return DELIVERED
