"""Parsing of path and query parameters shared by views."""
from __future__ import annotations

import uuid

from flask import request

from app.errors import NotFound, ValidationFailed

# Ids are PostgreSQL bigints: a larger path id names nothing (404), rather than overflowing the query.
BIGINT_MAX = 2**63 - 1


def broadcast_uuid(value: str) -> uuid.UUID:
    """A path id that is not a UUID names no broadcast: 404."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such broadcast", {"id": value}) from None


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
