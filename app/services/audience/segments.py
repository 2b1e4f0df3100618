"""Saved segments: a named contact filter per service, validated when saved and counted on demand."""
from __future__ import annotations

import json
import re

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.services.audience.segments_filter import Compiled, compile_filter

SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_UNKNOWN_ATTRIBUTES = text("""
SELECT k FROM unnest(CAST(:names AS text[])) k
 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE service_id = :sid AND attributes ? k)
 ORDER BY k
""")
_INSERT = text("INSERT INTO segments (service_id, name, filter) VALUES (:sid, :name, CAST(:filter AS jsonb))"
               " RETURNING name, filter, created_at")
_ONE = text("SELECT name, filter, created_at FROM segments WHERE service_id = :sid AND name = :name")
_ALL = text("SELECT name, filter, created_at FROM segments WHERE service_id = :sid ORDER BY name")
_DELETE = text("DELETE FROM segments WHERE service_id = :sid AND name = :name")


def checked_filter(service_id: int, spec: object, path: str = "filter") -> Compiled:
    """Compile a filter and refuse attributes no contact of the service has (a typo, most likely).

    A known attribute is found at its first contact; an unknown one scans the service's contacts
    once (no GIN index: it costs the import more than it saves here).
    """
    compiled = compile_filter(spec, path)
    if compiled.attributes:
        unknown = list(db.session.execute(_UNKNOWN_ATTRIBUTES, {"names": sorted(compiled.attributes),
                                                                "sid": service_id}).scalars())
        if unknown:
            raise ValidationFailed(f"no contact has the attribute {unknown[0]!r}",
                                   {"field": f"attributes.{unknown[0]}", "in": path}, code="unknown_attribute")
    return compiled


def describe(row) -> dict:
    """A segment as the API shows it."""
    return {"name": row.name, "filter": row.filter, "created_at": row.created_at.isoformat()}


def save(service_id: int, name: object, spec: object) -> dict:
    """Store a validated filter under a new name; 409 if the name is taken."""
    if not isinstance(name, str) or not SEGMENT_NAME.match(name):
        raise ValidationFailed("name is 1-100 letters, digits, '_', '.' or '-'", {"field": "name"})
    checked_filter(service_id, spec)
    try:
        row = db.session.execute(_INSERT, {"sid": service_id, "name": name, "filter": json.dumps(spec)}).one()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"a segment named {name!r} exists; delete it first", {"field": "name"}) from None
    return describe(row)


def get(service_id: int, name: str) -> dict:
    """One saved segment, or 404."""
    row = db.session.execute(_ONE, {"sid": service_id, "name": name}).first()
    db.session.rollback()
    if row is None:
        raise NotFound("no such segment", {"name": name})
    return describe(row)


def all_segments(service_id: int) -> list[dict]:
    """Every saved segment of the service, by name."""
    rows = db.session.execute(_ALL, {"sid": service_id}).all()
    db.session.rollback()
    return [describe(r) for r in rows]


def delete(service_id: int, name: str) -> None:
    """Forget a segment (broadcasts already addressed to it keep their own copy of the filter)."""
    if db.session.execute(_DELETE, {"sid": service_id, "name": name}).rowcount == 0:
        db.session.rollback()
        raise NotFound("no such segment", {"name": name})
    db.session.commit()


def count(service_id: int, compiled: Compiled) -> int:
    """Contacts of the service the filter selects."""
    total = db.session.execute(text(f"SELECT count(*) FROM contacts c WHERE c.service_id = :sid AND {compiled.sql}"),
                               {**compiled.params, "sid": service_id}).scalar()
    db.session.rollback()
    return total


def stored_filter(service_id: int, name: str) -> object:
    """The filter saved under a name, for a broadcast request; 422 naming `segment` if there is none."""
    row = db.session.execute(_ONE, {"sid": service_id, "name": name}).first()
    if row is None:
        raise ValidationFailed(f"no segment named {name!r}", {"field": "segment"}, code="unknown_segment")
    return row.filter
