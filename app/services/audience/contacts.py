"""Contacts of a service: bulk import (COPY + one upsert), read, update, keyset pages, export.

The contacts table has one writer: this module (and contacts_erasure for deletes).
"""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

from sqlalchemy import text

from app.errors import NotFound
from app.extensions import db
from app.services.audience import contacts_csv
from app.services.audience import contacts_fields as fields
from app.services.audience.contacts_fields import FieldRejected
from app.services.channels.recipients import region_of

PUBLIC_FIELDS = ("external_id", "phone", "phone_carrier", "phone_error", "email", "whatsapp", "inbox_user_id",
                 "language", "attributes", "consent", "created_at", "updated_at")
# Columns an import overwrites only when the file has them: a file of phones leaves emails alone.
_OPTIONAL = {"phone": ("phone", "phone_carrier", "phone_region", "phone_error"), "email": ("email",), "whatsapp": ("whatsapp",),
             "inbox_user_id": ("inbox_user_id",), "language": ("language",)}
_TEMP = text("""
CREATE TEMP TABLE contact_import (line int, external_id text, phone text, phone_carrier text, phone_region text, phone_error text,
  email text, whatsapp text, inbox_user_id text, language text, attributes jsonb, consent jsonb) ON COMMIT DROP
""")
_SELECT = text(f"SELECT {', '.join(PUBLIC_FIELDS)} FROM contacts WHERE service_id = :sid AND external_id = :xid")
_PAGE = text(f"""
SELECT id, {', '.join(PUBLIC_FIELDS)} FROM contacts WHERE service_id = :sid AND id > :after ORDER BY id LIMIT :limit
""")


def _upsert_sql(columns: set[str]) -> str:
    """The one INSERT … ON CONFLICT for an import; SET lists only columns the file has (names from a whitelist)."""
    updates = [f"{col} = EXCLUDED.{col}" for name, cols in _OPTIONAL.items() if name in columns for col in cols]
    return f"""
WITH upserted AS (
  INSERT INTO contacts (service_id, external_id, phone, phone_carrier, phone_region, phone_error, email, whatsapp,
                        inbox_user_id, language, attributes, consent)
  SELECT :sid, external_id, phone, phone_carrier, phone_region, phone_error, email, whatsapp, inbox_user_id, language,
         attributes, consent FROM contact_import
  ON CONFLICT (service_id, external_id) DO UPDATE SET
    {''.join(u + ', ' for u in updates)}attributes = contacts.attributes || EXCLUDED.attributes,
    consent = contacts.consent || EXCLUDED.consent, updated_at = now()
  RETURNING (xmax = 0) AS created)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM upserted"""


def import_csv(service_id: int, data: bytes, region: str, max_rows: int, max_rejects: int) -> dict:
    """Judge every row, COPY the good ones into a temp table, upsert them in one statement."""
    parsed = contacts_csv.parse(contacts_csv.decode(data), region, max_rows)
    created = updated = 0
    if parsed.lines:
        db.session.execute(_TEMP)
        cursor = db.session.connection().connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY contact_import ({', '.join(contacts_csv.COPY_COLUMNS)}) FROM STDIN",
                               io.StringIO("".join(parsed.lines)))
        finally:
            cursor.close()
        created, updated = db.session.execute(text(_upsert_sql(parsed.columns)), {"sid": service_id}).one()
    db.session.commit()
    return dict(rows=parsed.rows, created=created, updated=updated, rejected=len(parsed.rejects),
                rejects=parsed.rejects[:max_rejects], rejects_truncated=len(parsed.rejects) > max_rejects)


def describe(row) -> dict:
    """A contact as the API shows it."""
    out = {name: getattr(row, name) for name in PUBLIC_FIELDS}
    out["created_at"], out["updated_at"] = row.created_at.isoformat(), row.updated_at.isoformat()
    return out


def get(service_id: int, external_id: str) -> dict:
    """One contact, or 404."""
    row = db.session.execute(_SELECT, {"sid": service_id, "xid": external_id}).first()
    db.session.rollback()
    if row is None:
        raise NotFound("no such contact", {"external_id": external_id})
    return describe(row)


def page(service_id: int, after: int, limit: int) -> tuple[list[dict], int | None]:
    """A keyset page by internal id, and the cursor for the next one (None on the last)."""
    rows = db.session.execute(_PAGE, {"sid": service_id, "after": after, "limit": limit}).all()
    db.session.rollback()
    return [describe(r) for r in rows], (rows[-1].id if len(rows) == limit else None)


EXPORT_COLUMNS = ("external_id", "phone", "email", "whatsapp", "inbox_user_id", "language",
                  *contacts_csv.CONSENT_COLUMNS, "attributes")


def _export_row(row) -> list:
    """One contact as an export line that the importer reads back."""
    consent = row.consent or {}
    flags = ["" if ch not in consent else ("yes" if consent[ch].get("granted") else "no")
             for ch in contacts_csv.CHANNELS]
    return [row.external_id, row.phone or "", row.email or "", row.whatsapp or "", row.inbox_user_id or "",
            row.language or "", *flags, json.dumps(row.attributes, ensure_ascii=False, separators=(",", ":"))]


def export_rows(service_id: int, page_size: int = 5000):
    """Every contact of a service as export lines, read in keyset pages so memory stays flat."""
    after = 0
    while True:
        rows = db.session.execute(_PAGE, {"sid": service_id, "after": after, "limit": page_size}).all()
        db.session.rollback()
        for row in rows:
            yield _export_row(row)
        if len(rows) < page_size:
            return
        after = rows[-1].id


def _patch_columns(payload: dict, region: str) -> dict:
    """Column values from a PATCH body's address and language fields."""
    values: dict = {}
    if "phone" in payload:
        values["phone"], values["phone_carrier"], values["phone_error"] = fields.phone("phone", payload["phone"],
                                                                                       region)
        values["phone_region"] = region_of(values["phone"])
    if "whatsapp" in payload:
        values["whatsapp"] = fields.phone("whatsapp", payload["whatsapp"], region)[0]
    if "email" in payload:
        values["email"] = fields.email("email", payload["email"])
    if "inbox_user_id" in payload:
        values["inbox_user_id"] = fields.text_value("inbox_user_id", payload["inbox_user_id"])
    if "language" in payload:
        values["language"] = fields.language("language", payload["language"])
    return values


def _patch_consent(value: object) -> dict:
    """{channel: {granted, source, at}} from a PATCH body's consent object."""
    if not isinstance(value, dict):
        raise FieldRejected("consent", "must be an object of channels")
    consent = {}
    for channel, entry in value.items():
        where = f"consent.{channel}"
        if channel not in fields.CHANNELS:
            raise FieldRejected(where, f"unknown channel; known: {list(fields.CHANNELS)}")
        if not isinstance(entry, dict) or not isinstance(entry.get("granted"), bool):
            raise FieldRejected(where, "must be {granted: true|false, source, at}")
        consent[channel] = {"granted": entry["granted"],
                            "source": fields.text_value(f"{where}.source", entry.get("source")) or "api",
                            "at": fields.timestamp(f"{where}.at", entry.get("at"))
                            or datetime.now(timezone.utc).isoformat()}
    return consent


def _patch_attributes(value: object) -> tuple[dict, list[str]]:
    """(attributes to set, names to remove) from a PATCH body's attributes object."""
    if not isinstance(value, dict):
        raise FieldRejected("attributes", "must be an object")
    names = {fields.attribute_name(f"attributes.{k}", k): fields.attribute_value(f"attributes.{k}", v)
             for k, v in value.items()}
    return {k: v for k, v in names.items() if v is not None}, [k for k, v in names.items() if v is None]


PATCHABLE = ("phone", "email", "whatsapp", "inbox_user_id", "language", "attributes", "consent")


def update(service_id: int, external_id: str, payload: dict, region: str) -> dict:
    """Apply a PATCH in one guarded UPDATE; FieldRejected names a bad field, 404 if there is no such contact."""
    for key in payload:
        if key not in PATCHABLE:
            raise FieldRejected(key, f"not a field of a contact; patchable: {list(PATCHABLE)}")
    values = _patch_columns(payload, region)
    attributes, removed = _patch_attributes(payload.get("attributes", {}))
    consent = _patch_consent(payload.get("consent", {}))
    sets = "".join(f"{name} = :{name}, " for name in values)  # names from _patch_columns, never the client's
    row = db.session.execute(text(f"""
UPDATE contacts SET {sets}attributes = (attributes || CAST(:attrs AS jsonb)) - CAST(:removed AS text[]),
       consent = consent || CAST(:consent AS jsonb), updated_at = now()
 WHERE service_id = :sid AND external_id = :xid RETURNING {', '.join(PUBLIC_FIELDS)}"""), {
        **values, "attrs": json.dumps(attributes), "removed": removed, "consent": json.dumps(consent),
        "sid": service_id, "xid": external_id}).first()
    if row is None:
        db.session.rollback()
        raise NotFound("no such contact", {"external_id": external_id})
    db.session.commit()
    return describe(row)
