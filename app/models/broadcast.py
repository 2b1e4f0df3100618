"""A broadcast: one text to many recipients, with its lifecycle."""
from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from app.extensions import db
from app.statuses import BroadcastStatus, sql_list


class Broadcast(db.Model):
    """One operator send; its messages are rows in `messages`."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        db.UniqueConstraint("service_id", "idempotency_key", name="uq_broadcasts_service_idempotency_key"),
        db.CheckConstraint(f"status IN {sql_list(*BroadcastStatus)}", name="ck_broadcasts_status"),
    )

    id = db.Column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id"), nullable=False, index=True)
    channel = db.Column(db.Text, nullable=False)
    provider = db.Column(db.Text, nullable=False)
    body = db.Column(db.Text, nullable=False)
    sender = db.Column(db.Text)
    priority = db.Column(db.Text, nullable=False, server_default="normal")
    status = db.Column(db.Text, nullable=False, index=True)
    paused_reason = db.Column(db.Text)
    # Bumped by every transition; orders the Redis status flag's writes (app.services.state.guard).
    status_version = db.Column(db.BigInteger, nullable=False, server_default="1")
    rate_limit_per_second = db.Column(db.Numeric(10, 3))
    scheduled_for = db.Column(db.DateTime(timezone=True))
    idempotency_key = db.Column(db.Text)
    request_hash = db.Column(db.Text)
    recipient_count = db.Column(db.Integer, nullable=False, server_default="0")
    accepted_count = db.Column(db.Integer, nullable=False, server_default="0")
    rejected_count = db.Column(db.Integer, nullable=False, server_default="0")
    duplicate_count = db.Column(db.Integer, nullable=False, server_default="0")
    options = db.Column(JSONB, nullable=False, server_default="{}")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    started_at = db.Column(db.DateTime(timezone=True))
    finished_at = db.Column(db.DateTime(timezone=True))
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
