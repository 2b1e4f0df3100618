"""The public lifecycles: one StrEnum per lifecycle, plus the forward-only rank.

A member is its value (`MessageStatus.SENT == "sent"`, and JSON, Redis and the database see "sent"),
so code names statuses by member, never by a bare string. SQL text that must hold a status as a
literal (a partial index's predicate has to match the statement's text) renders it with
`sql_literal` or `sql_list`, so each status is spelled here only.
"""
from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
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


class BroadcastStatus(StrEnum):
    """Where one broadcast stands."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PausedReason(StrEnum):
    """Why a broadcast is paused."""

    OPERATOR = "operator"
    QUOTA = "quota"
    # The account's circuit breaker opened: resumes by itself once a probe gets through.
    GATEWAY_DOWN = "gateway_down"
    # The gateway refused the account (key, URL): waits for an operator's resume.
    GATEWAY_REJECTED = "gateway_rejected"


def sql_literal(status: StrEnum) -> str:
    """A member as an SQL (or Lua) string literal: `'sent'`."""
    return f"'{status.value}'"


def sql_list(*statuses: StrEnum) -> str:
    """Members as a parenthesised SQL list for IN: `('sent', 'unknown_delivery')`."""
    return f"({', '.join(sql_literal(status) for status in statuses)})"


# Rank order a delivery report may only raise: pending < processing < sent < unknown_delivery < final.
MESSAGE_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.PROCESSING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.UNKNOWN_DELIVERY: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.FAILED: 4,
    MessageStatus.UNREACHABLE: 4,
}
# The statuses a final delivery report may move a message out of.
REPORTABLE_MESSAGE_STATUSES = (MessageStatus.SENT, MessageStatus.UNKNOWN_DELIVERY)

# The final statuses a delivery report gives, worst first: a message sent in parts takes its worst part's.
REPORTED_WORST_FIRST = (MessageStatus.FAILED, MessageStatus.UNREACHABLE, MessageStatus.DELIVERED)

FINAL_MESSAGE_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.UNREACHABLE,
                                    MessageStatus.REJECTED, MessageStatus.OPTED_OUT, MessageStatus.CANCELLED})
OPEN_MESSAGE_STATUSES = frozenset({MessageStatus.PENDING, MessageStatus.PROCESSING})
FINAL_BROADCAST_STATUSES = frozenset({BroadcastStatus.COMPLETED, BroadcastStatus.CANCELLED})
ALL_MESSAGE_STATUSES = tuple(MessageStatus)
