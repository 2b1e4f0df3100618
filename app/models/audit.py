"""The audit log: who did what to which broadcast, when and why."""
from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from app.extensions import db


class AuditEntry(db.Model):
    """One transition or operator action, never updated after it is written."""

    __tablename__ = "audit_log"
    __table_args__ = (db.Index("ix_audit_log_broadcast", "broadcast_id", "id"),)

    id = db.Column(db.BigInteger, primary_key=True)
    # None only for an account-level act (an operator closing a shared account's breaker from the CLI).
    service_id = db.Column(db.Integer, db.ForeignKey("services.id"))
    broadcast_id = db.Column(UUID(as_uuid=True), db.ForeignKey("broadcasts.id", ondelete="CASCADE"))
    actor = db.Column(db.Text, nullable=False)
    action = db.Column(db.Text, nullable=False)
    from_status = db.Column(db.Text)
    to_status = db.Column(db.Text)
    reason = db.Column(db.Text)
    details = db.Column(JSONB, nullable=False, server_default="{}")
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
