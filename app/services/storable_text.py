"""Text PostgreSQL can store: `text` and `jsonb` cannot hold a NUL character (U+0000).

A NUL anywhere in a request is refused whole with 400 naming the field, before anything is
written, rather than failing half-way through a COPY.
"""
from __future__ import annotations

from app.errors import MalformedRequest

NUL = "\x00"
# How a NUL looks inside JSON text (json.dumps escapes it); a cheap gate before a walk.
NUL_IN_JSON = "\\u0000"


def refuse_nul(field: str, in_key: bool = False) -> MalformedRequest:
    """The 400 for a NUL character in one field (or in one of its keys)."""
    where = "a key of " if in_key else ""
    return MalformedRequest(f"{where}{field} contains a NUL character (U+0000), which cannot be stored",
                            {"field": field}, code="nul_character")


def check_text(field: str, value: str) -> str:
    """The value itself, or 400 if it holds a NUL."""
    if NUL in value:
        raise refuse_nul(field)
    return value


def nul_path(value: object, path: str) -> tuple[str, bool] | None:
    """(path, in a key?) of the first key or string holding a NUL inside a JSON value, or None."""
    if isinstance(value, str):
        return (path, False) if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                return path, True
            found = nul_path(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_json(field: str, value: object) -> None:
    """400 naming the key or value inside a JSON value that holds a NUL."""
    found = nul_path(value, field)
    if found:
        raise refuse_nul(*found)
