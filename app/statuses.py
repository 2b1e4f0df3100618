"""The public lifecycles: one str Enum per lifecycle, plus the forward-only rank."""
from __future__ import annotations

from enum import Enum


class MessageStatus(str, Enum):
    """Where one message to one recipient stands."""

    REJECTED = "rejected"
    OPTED_OUT = "opted_out"
    PENDING = "pending"
    PROCESSING = "processing"
    SENT = "sent"
    # Sent, but no final report came within HERALD_DELIVERY_REPORT_TIMEOUT_SECONDS; a late one still settles it.
    UNKNOWN_DELIVERY = "unknown_delivery"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


class BroadcastStatus(str, Enum):
    """Where one broadcast stands."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PausedReason(str, Enum):
    """Why a broadcast is paused."""

    OPERATOR = "operator"
    QUOTA = "quota"
    # The account's circuit breaker opened: resumes by itself once a probe gets through.
    GATEWAY_DOWN = "gateway_down"
    # The gateway refused the account (key, URL): waits for an operator's resume.
    GATEWAY_REJECTED = "gateway_rejected"


# Rank order a delivery report may only raise: pending < processing < sent < unknown_delivery < final.
MESSAGE_RANK = {
    MessageStatus.PENDING.value: 0,
    MessageStatus.PROCESSING.value: 1,
    MessageStatus.SENT.value: 2,
    MessageStatus.UNKNOWN_DELIVERY.value: 3,
    MessageStatus.DELIVERED.value: 4,
    MessageStatus.FAILED.value: 4,
    MessageStatus.UNREACHABLE.value: 4,
}
# The statuses a final delivery report may move a message out of.
REPORTABLE_MESSAGE_STATUSES = (MessageStatus.SENT.value, MessageStatus.UNKNOWN_DELIVERY.value)

# The final statuses a delivery report gives, worst first: a message sent in parts takes its worst part's.
REPORTED_WORST_FIRST = (MessageStatus.FAILED.value, MessageStatus.UNREACHABLE.value, MessageStatus.DELIVERED.value)

FINAL_MESSAGE_STATUSES = frozenset({"delivered", "failed", "unreachable", "rejected", "opted_out", "cancelled"})
OPEN_MESSAGE_STATUSES = frozenset({"pending", "processing"})
FINAL_BROADCAST_STATUSES = frozenset({"completed", "cancelled"})
ALL_MESSAGE_STATUSES = tuple(s.value for s in MessageStatus)
