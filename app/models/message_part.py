"""The parts of a message its gateway took as several, each under its own id (SMPP concatenation)."""
from __future__ import annotations

from app.extensions import db


class MessagePart(db.Model):
    """One part and the final status its own receipt gave it; the message settles on the worst, once all are in."""

    __tablename__ = "message_parts"
    __table_args__ = (
        # A receipt finds its part by the gateway's id, as messages are found.
        db.Index("ix_message_parts_provider_message_id", "provider_message_id"),
    )

    # No foreign key, like messages' own: the row is written with the `sent` move that names it.
    message_id = db.Column(db.BigInteger, primary_key=True)
    part = db.Column(db.SmallInteger, primary_key=True)
    # The account that sent it (a report is known by account and id together).
    provider = db.Column(db.Text, nullable=False)
    provider_message_id = db.Column(db.Text, nullable=False)
    # NULL until this part's first final receipt.
    status = db.Column(db.Text)
    failure_reason = db.Column(db.Text)
