"""Saved segments, and the audience cursor of a broadcast addressed to one."""
from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from app.extensions import db


class Segment(db.Model):
    """A named, validated contact filter of one service."""

    __tablename__ = "segments"
    __table_args__ = (db.UniqueConstraint("service_id", "name", name="uq_segments_service_name"),)

    id = db.Column(db.Integer, primary_key=True)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), nullable=False)
    name = db.Column(db.Text, nullable=False)
    filter = db.Column(JSONB, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())


class BroadcastAudience(db.Model):
    """Where the producer stands in turning a segment into a broadcast's messages rows."""

    __tablename__ = "broadcast_audiences"

    broadcast_id = db.Column(UUID(as_uuid=True), db.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                             primary_key=True)
    service_id = db.Column(db.Integer, nullable=False)
    # The filter as resolved at POST time (a saved segment may change later; this broadcast does not).
    filter = db.Column(JSONB, nullable=False)
    segment_name = db.Column(db.Text)
    exclude_broadcast_id = db.Column(UUID(as_uuid=True))
    # Contacts created after the POST are not part of this broadcast's audience.
    id_ceiling = db.Column(db.BigInteger, nullable=False)
    # Keyset cursor: the last contact id already turned into rows.
    cursor = db.Column(db.BigInteger, nullable=False, server_default="0")
    done = db.Column(db.Boolean, nullable=False, server_default="false")
    audience_count = db.Column(db.Integer, nullable=False, server_default="0")
