"""The suppression list: who asked not to hear from a service on a channel, and its history."""
from __future__ import annotations

from sqlalchemy import func

from app.extensions import db


class OptOut(db.Model):
    """One suppressed address of a service on a channel; deleted when the person re-subscribes."""

    __tablename__ = "opt_outs"

    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    channel = db.Column(db.Text, primary_key=True)
    address = db.Column(db.Text, primary_key=True)
    source = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())


class OptOutEvent(db.Model):
    """One add or remove on the suppression list, never updated: the audit trail of consent."""

    __tablename__ = "opt_out_events"
    __table_args__ = (db.Index("ix_opt_out_events_address", "service_id", "channel", "address", "id"),)

    id = db.Column(db.BigInteger, primary_key=True)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), nullable=False)
    channel = db.Column(db.Text, nullable=False)
    address = db.Column(db.Text, nullable=False)
    action = db.Column(db.Text, nullable=False)
    source = db.Column(db.Text, nullable=False)
    actor = db.Column(db.Text, nullable=False)
    detail = db.Column(db.Text)
    # When the change took effect for the person: the gateway's time of an inbound keyword.
    occurred_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())


class InboundKeyword(db.Model):
    """One inbound STOP or START as the gateway sent it, deduplicated by the gateway's id per account.

    `outcome` says what it did: 'applied', 'unchanged' (already in that state) or 'stale' (a newer
    keyword or operator change was already in force, so this late or replayed one changed nothing).
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        db.Index("uq_inbound_messages_gateway_id", "account", "inbound_id", unique=True,
                 postgresql_where=db.text("inbound_id IS NOT NULL")),
        db.Index("ix_inbound_messages_address", "service_id", "channel", "address", "sent_at"),
    )

    id = db.Column(db.BigInteger, primary_key=True)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), nullable=False)
    channel = db.Column(db.Text, nullable=False)
    account = db.Column(db.Text, nullable=False)
    inbound_id = db.Column(db.Text)
    address = db.Column(db.Text, nullable=False)
    action = db.Column(db.Text, nullable=False)
    outcome = db.Column(db.Text, nullable=False)
    sent_at = db.Column(db.DateTime(timezone=True), nullable=False)
    received_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
