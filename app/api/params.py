"""Parsing of path and query parameters shared by views."""
from __future__ import annotations

import uuid

from flask import request

from app.errors import NotFound, ValidationFailed
from app.services.content.storable_text import check_text, flaw

# Ids are PostgreSQL bigints: a larger path id names nothing (404), rather than overflowing the query.
BIGINT_MAX = 2**63 - 1


def broadcast_uuid(value: str) -> uuid.UUID:
    """A path id that is not a UUID names no broadcast: 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such broadcast", {"id": value}) from None


def path_name(value: str, field: str, kind: str) -> str:
    """A path name PostgreSQL cannot hold (a NUL from %00) names nothing: 404, before any query."""
    if flaw(value):
        raise NotFound(f"no such {kind}", {field: value})
    return value


def text_arg(name: str) -> str | None:
    """A text query parameter PostgreSQL can hold, or None when absent (400 naming it otherwise)."""
    value = request.args.get(name)
    return None if value is None else check_text(name, value)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high], or 422 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", {"field": name}) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}", {"field": name})
    return value
