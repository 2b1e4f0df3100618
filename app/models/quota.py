"""Quota windows: how much of a daily allowance one scope has used."""
from __future__ import annotations

from app.extensions import db


class QuotaWindow(db.Model):
    """One scope's (a service's or a provider account's) usage in one window."""

    __tablename__ = "quota_windows"

    scope = db.Column(db.Text, primary_key=True)
    window_start = db.Column(db.DateTime(timezone=True), primary_key=True)
    window_end = db.Column(db.DateTime(timezone=True), nullable=False)
    quota_limit = db.Column(db.Integer, nullable=False)
    used = db.Column(db.Integer, nullable=False, server_default="0")
