"""Stored message templates: one row per saved version of a (service, channel, name, language)."""
from __future__ import annotations

from sqlalchemy import func

from app.extensions import db


class MessageTemplate(db.Model):
    """One version of a template's text; a save adds a version, never rewrites one."""

    __tablename__ = "templates"
    __table_args__ = (db.UniqueConstraint("service_id", "channel", "name", "language", "version",
                                          name="uq_templates_version"),)

    id = db.Column(db.BigInteger, primary_key=True)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), nullable=False)
    channel = db.Column(db.Text, nullable=False)
    name = db.Column(db.Text, nullable=False)
    # '' is the default variant; others are contact languages such as 'bem' or 'nya'.
    language = db.Column(db.Text, nullable=False, server_default="")
    version = db.Column(db.Integer, nullable=False)
    body = db.Column(db.Text, nullable=False)
    # A one-time code or an account alert: may reach a number on the suppression list (audited).
    service_critical = db.Column(db.Boolean, nullable=False, server_default=db.false())
    created_by = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
