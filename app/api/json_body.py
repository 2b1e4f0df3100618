"""Reading a JSON request body that PostgreSQL can store: an object, finite numbers, bounded nesting,
and no text it cannot encode (a NUL or a lone UTF-16 surrogate, anywhere in the body)."""
from __future__ import annotations

import json
import re

from app.errors import MalformedRequest
from app.services.content.storable_text import flaw_path, refuse

# Where unstorable text can come from in UTF-8 JSON: a \u0000 escape, a surrogate escape not in a
# high-low pair, or a surrogate encoded as raw bytes (json.loads decodes with surrogatepass). A
# cheap gate, so a large clean body is not walked; a false alarm only costs the walk.
_HIGH, _LOW = rb"\\u[dD][89abAB][0-9a-fA-F]{2}", rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_UNSTORABLE = re.compile(rb"\\u0000|" + _HIGH + rb"(?!" + _LOW + rb")|(?<!" + _HIGH + rb")" + _LOW
                         + rb"|\xed[\xa0-\xbf]")


def _no_constant(name: str):
    """NaN and Infinity are not JSON, and JSONB refuses them."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A float that stays finite (1e400 would become Infinity, which JSONB refuses)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def _check_storable(raw: bytes, value: object) -> None:
    """400 naming the field path (e.g. `filter.and[0].eq`) of the first text PostgreSQL cannot store."""
    if json.detect_encoding(raw) == "utf-8" and not _UNSTORABLE.search(raw):
        return
    found = flaw_path(value, "")
    if found:
        where, code, in_key = found
        raise refuse(where.lstrip(".") or "body", code, in_key)


def parse_json(raw: bytes) -> object:
    """Any JSON value whose text PostgreSQL can store, or 400 naming the body (or the field at fault)."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"body is not valid JSON: {exc}", {"field": "body"}) from None
    except RecursionError:
        raise MalformedRequest("body is nested too deeply", {"field": "body"}) from None
    _check_storable(raw, value)
    return value


def parse_json_object(raw: bytes) -> dict:
    """A JSON object, or 400 naming the body."""
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise MalformedRequest("body must be a JSON object", {"field": "body"})
    return payload
