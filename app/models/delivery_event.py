"""Delivery reports as received, deduplicated, applied to messages in bulk."""
from __future__ import annotations

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import JSONB

from app.extensions import db


class DeliveryEvent(db.Model):
    """One report from a gateway; the same report twice is stored once."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        db.UniqueConstraint(
            "provider", "provider_message_id", "provider_status", name="uq_delivery_events_report"
        ),
        # Erasure finds a message's reports by the gateway's id alone: the unique key leads with the
        # account, and a report posted to another account's URL must be found too.
        db.Index("ix_delivery_events_provider_message_id", "provider_message_id"),
        # The applier takes reports never looked at first, in arrival order...
        db.Index("ix_delivery_events_fresh", "id", postgresql_where=text("applied_at IS NULL AND checks = 0")),
        # ...then reports whose message was not found, once their backoff is due.
        db.Index("ix_delivery_events_recheck", "next_check_at",
                 postgresql_where=text("applied_at IS NULL AND checks > 0")),
    )

    id = db.Column(db.BigInteger, primary_key=True)
    provider = db.Column(db.Text, nullable=False)
    provider_message_id = db.Column(db.Text, nullable=False)
    provider_status = db.Column(db.Text, nullable=False)
    status = db.Column(db.Text)
    failure_reason = db.Column(db.Text)
    network_code = db.Column(db.Text)
    payload = db.Column(JSONB, nullable=False, server_default="{}")
    received_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    # Times the applier looked for this report's message without finding it, and when it looks next.
    checks = db.Column(db.SmallInteger, nullable=False, server_default="0")
    next_check_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    applied_at = db.Column(db.DateTime(timezone=True))
    outcome = db.Column(db.Text)
