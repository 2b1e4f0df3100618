"""Contacts: the people a service sends to, with an address per channel and free attributes."""
from __future__ import annotations

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import JSONB

from app.extensions import db


# Contacts stored before regions were kept (0014) whose number an audience would send to.
PHONE_REGION_MISSING = "phone_region IS NULL AND phone IS NOT NULL AND phone_error IS NULL"


class Contact(db.Model):
    """One person of one service, known by the service's own external id."""

    __tablename__ = "contacts"
    __table_args__ = (
        db.UniqueConstraint("service_id", "external_id", name="uq_contacts_service_external_id"),
        # Keyset pages and audience pages walk one service's contacts in id order.
        db.Index("ix_contacts_service_id_id", "service_id", "id"),
        # Erasure and exclusion find a person's phone quickly.
        db.Index("ix_contacts_service_phone", "service_id", "phone"),
        # The region backfill and its startup warning read only the contacts still missing one.
        db.Index("ix_contacts_phone_region_missing", "id", postgresql_where=text(PHONE_REGION_MISSING)),
    )

    id = db.Column(db.BigInteger, primary_key=True)
    # No foreign key and no GIN index on attributes, on purpose: measured on a 30,000-row import,
    # the FK's per-row trigger and the GIN upkeep together made the upsert 2.8x slower.
    service_id = db.Column(db.Integer, nullable=False)
    external_id = db.Column(db.Text, nullable=False)
    # E.164 when it normalised; the verdict (carrier, or why it cannot receive SMS) is kept with it.
    phone = db.Column(db.Text)
    phone_carrier = db.Column(db.Text)
    # The number's ISO region, so an audience's messages carry it for routing without asking phonenumbers.
    phone_region = db.Column(db.Text)
    phone_error = db.Column(db.Text)
    email = db.Column(db.Text)
    whatsapp = db.Column(db.Text)
    inbox_user_id = db.Column(db.Text)
    language = db.Column(db.Text)
    attributes = db.Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    # {"sms": {"granted": true, "source": "field form", "at": "2026-11-01T08:00:00+00:00"}, ...}
    consent = db.Column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, server_default=func.now())
