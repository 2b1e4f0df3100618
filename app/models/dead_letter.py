"""Messages that could not be sent, held for an operator to inspect, requeue or discard."""
from __future__ import annotations

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import UUID

from app.extensions import db


class DeadLetter(db.Model):
    """One dead-lettered attempt; at most one open entry per message."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        db.Index("uq_dead_letters_open_message", "message_id", unique=True, postgresql_where=text("resolved_at IS NULL")),
        db.Index("ix_dead_letters_service_open", "service_id", "id", postgresql_where=text("resolved_at IS NULL")),
        # Erasure settles every entry of a person's messages, resolved ones included.
        db.Index("ix_dead_letters_message", "message_id"),
    )

    id = db.Column(db.BigInteger, primary_key=True)
    message_id = db.Column(db.BigInteger, db.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    broadcast_id = db.Column(UUID(as_uuid=True), db.ForeignKey("broadcasts.id", ondelete="CASCADE"))
    service_id = db.Column(db.Integer, db.ForeignKey("services.id"), nullable=False)
    reason = db.Column(db.Text, nullable=False)
    error_code = db.Column(db.Text)
    error_detail = db.Column(db.Text)
    attempts = db.Column(db.SmallInteger, nullable=False, server_default="0")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    resolved_at = db.Column(db.DateTime(timezone=True))
    resolution = db.Column(db.Text)
    resolved_by = db.Column(db.Text)
    # Read-only: the operator inspecting an entry needs the recipient and carrier; loaded in the same query.
    message = db.relationship("Message", lazy="joined", innerjoin=True, viewonly=True)
