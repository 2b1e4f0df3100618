"""One row per (broadcast, recipient): the queue table and the delivery log at once."""
from __future__ import annotations

from sqlalchemy import false as sa_false, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from app.extensions import db
from app.statuses import MessageStatus, sql_list, sql_literal


# Rows stored before regions were kept (0014) that a claim may still route: pending, leased, or
# failed (a dead letter may be requeued). The backfill walks them by this predicate's index; new
# rows never match it, so once it is done the index is empty.
REGION_MISSING = ("region IS NULL"
                  f" AND status IN {sql_list(MessageStatus.PENDING, MessageStatus.PROCESSING, MessageStatus.FAILED)}"
                  " AND recipient LIKE '+%'")
# The region a number phonenumbers cannot place is given by the backfill (phonenumbers' own
# "unknown region"): no route names it, so only a catch-all route takes the row.
UNKNOWN_REGION = "ZZ"


class Message(db.Model):
    """One message to one recipient; its status only moves forward."""

    __tablename__ = "messages"
    __table_args__ = (
        # One broadcast never reaches one person twice, whatever is retried or re-posted.
        db.UniqueConstraint("broadcast_id", "recipient", name="uq_messages_broadcast_recipient"),
        db.CheckConstraint(f"status IN {sql_list(*MessageStatus)}", name="ck_messages_status"),
        # The claim query: pending rows of one broadcast in id order. Ordering by id, not by
        # next_attempt_at (equal for a whole intake), lets a claim stop after `limit` rows
        # instead of sorting every pending row of a million-row broadcast.
        db.Index("ix_messages_pending", "broadcast_id", "id",
                 postgresql_where=text(f"status = {sql_literal(MessageStatus.PENDING)}")),
        # The lease reaper scans only claimed rows.
        db.Index("ix_messages_processing_lease", "lease_expires_at",
                 postgresql_where=text(f"status = {sql_literal(MessageStatus.PROCESSING)}")),
        # Delivery reports find their message by the gateway's id.
        db.Index(
            "ix_messages_provider_message_id", "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
        # The unknown-delivery sweep: sent rows, oldest first; a row leaves it once settled.
        db.Index("ix_messages_sent_at", "sent_at",
                 postgresql_where=text(f"status = {sql_literal(MessageStatus.SENT)}")),
        # Keyset pages of one broadcast filtered by status.
        db.Index("ix_messages_broadcast_status_id", "broadcast_id", "status", "id"),
        # Erasure finds a person's messages among all of a service's (and nothing else does).
        db.Index("ix_messages_service_recipient", "service_id", "recipient"),
        # The region backfill and its startup warning read only the rows still missing one.
        db.Index("ix_messages_region_missing", "id", postgresql_where=text(REGION_MISSING)),
        # Transactional messages (no broadcast): one per Idempotency-Key per service.
        db.Index("uq_messages_service_idempotency_key", "service_id", "idempotency_key", unique=True,
                 postgresql_where=text("idempotency_key IS NOT NULL")),
        # The fast lane's queue: due transactional rows.
        db.Index("ix_messages_transactional_pending", "next_attempt_at", "id",
                 postgresql_where=text(f"broadcast_id IS NULL AND status = {sql_literal(MessageStatus.PENDING)}")),
        # A transactional message's queue position: due rows of one service ahead of it.
        db.Index("ix_messages_transactional_pending_service", "service_id", "id", "next_attempt_at",
                 postgresql_where=text(f"broadcast_id IS NULL AND status = {sql_literal(MessageStatus.PENDING)}")),
    )

    id = db.Column(db.BigInteger, primary_key=True)
    # No foreign keys here on purpose: their per-row triggers double the cost of a
    # 50,000-row COPY, and intake (the only inserter) writes the broadcast first.
    broadcast_id = db.Column(UUID(as_uuid=True))
    service_id = db.Column(db.Integer, nullable=False)
    recipient = db.Column(db.Text, nullable=False)
    personalisation = db.Column(JSONB)
    # Transactional messages carry their own channel, text and provider; broadcast rows use the broadcast's.
    channel = db.Column(db.Text)
    body = db.Column(db.Text)
    provider = db.Column(db.Text)
    idempotency_key = db.Column(db.Text)
    # SHA-256 of a transactional request sent with an Idempotency-Key: a reused key with another body is refused.
    request_hash = db.Column(db.Text)
    carrier = db.Column(db.Text)
    # The recipient's ISO region (phonenumbers), which routes match; NULL for rows from before it was
    # kept until `flask herald backfill-regions` fills it (UNKNOWN_REGION where it cannot be placed).
    region = db.Column(db.Text)
    # The route a routed message was last claimed for, and that route's price per part.
    route = db.Column(db.Text)
    price = db.Column(db.Numeric(12, 4))
    # The last call's outcome is unknown: retries stay on `provider`, the account that made it (its key).
    pinned = db.Column(db.Boolean, nullable=False, server_default=sa_false())
    status = db.Column(db.Text, nullable=False)
    attempts = db.Column(db.SmallInteger, nullable=False, server_default="0")
    next_attempt_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    lease_expires_at = db.Column(db.DateTime(timezone=True))
    claim_token = db.Column(UUID(as_uuid=True))
    provider_message_id = db.Column(db.Text)
    segments = db.Column(db.SmallInteger)
    cost = db.Column(db.Numeric(12, 4))
    currency = db.Column(db.Text)
    error_code = db.Column(db.Text)
    error_detail = db.Column(db.Text)
    # Why this message may reach a suppressed number ('service_critical', 'optout_confirmation'); else NULL.
    suppression_exempt = db.Column(db.Text)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    sent_at = db.Column(db.DateTime(timezone=True))
    finished_at = db.Column(db.DateTime(timezone=True))
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
