"""Tenants (services) and their hashed API keys."""
from __future__ import annotations

from sqlalchemy import func

from app.extensions import db


class Service(db.Model):
    """One tenant: a programme or product sending through Herald."""

    __tablename__ = "services"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.Text, nullable=False, unique=True)
    timezone = db.Column(db.Text, nullable=False, server_default="Africa/Lusaka")
    # Messages this service may send per quota window (a day by default); NULL = no limit.
    daily_quota = db.Column(db.Integer)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())


class ApiKey(db.Model):
    """A bearer key scoped to one service; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id = db.Column(db.Integer, primary_key=True)
    service_id = db.Column(db.Integer, db.ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.Text, nullable=False)
    prefix = db.Column(db.Text, nullable=False)
    key_hash = db.Column(db.Text, nullable=False, unique=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    revoked_at = db.Column(db.DateTime(timezone=True))
