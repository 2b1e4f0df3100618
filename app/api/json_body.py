"""Reading a JSON request body that PostgreSQL can store: an object, finite numbers, bounded nesting."""
from __future__ import annotations

import json

from app.errors import MalformedRequest


def _no_constant(name: str):
    """NaN and Infinity are not JSON, and JSONB refuses them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A float that stays finite (1e400 would become Infinity, which JSONB refuses)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def parse_json(raw: bytes) -> object:
    """Any JSON value, or 400 naming the body."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"body is not valid JSON: {exc}", {"field": "body"}) from None
    except RecursionError:
        raise MalformedRequest("body is nested too deeply", {"field": "body"}) from None


def parse_json_object(raw: bytes) -> dict:
    """A JSON object, or 400 naming the body."""
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise MalformedRequest("body must be a JSON object", {"field": "body"})
    return payload
