"""Text PostgreSQL can store: `text` and `jsonb` hold neither a NUL character (U+0000) nor a lone
UTF-16 surrogate (JSON can carry both as \\u escapes; neither can be encoded for the database).

Such text anywhere in a request is refused whole with 400 naming the field, before anything is
written, rather than failing half-way through a COPY.
"""
from __future__ import annotations

from app.errors import MalformedRequest

NUL = "\x00"
# How a NUL looks inside JSON text (json.dumps escapes it); a cheap gate before a walk.
NUL_IN_JSON = "\\u0000"
_REASONS = {"nul_character": "a NUL character (U+0000)", "lone_surrogate": "a lone UTF-16 surrogate (\\ud800-\\udfff)"}


def flaw(text: str) -> str | None:
    """Why PostgreSQL cannot store this text ('nul_character', 'lone_surrogate'), or None."""
    if NUL in text:
        return "nul_character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone_surrogate"
    return None


def refuse(field: str, code: str = "nul_character", in_key: bool = False) -> MalformedRequest:
    """The 400 for unstorable text in one field (or in one of its keys)."""
    where = "a key of " if in_key else ""
    return MalformedRequest(f"{where}{field} contains {_REASONS[code]}, which cannot be stored",
                            {"field": field}, code=code)


def check_text(field: str, value: str) -> str:
    """The value itself, or 400 if it cannot be stored."""
    code = flaw(value)
    if code:
        raise refuse(field, code)
    return value


def flaw_path(value: object, path: str) -> tuple[str, str, bool] | None:
    """(path, flaw, in a key?) of the first unstorable key or string inside a JSON value, or None.

    Walks with an explicit stack: a body nested as deeply as the JSON parser allows must not
    exhaust Python's recursion limit here.
    """
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            code = flaw(item)
            if code:
                return where, code, False
        elif isinstance(item, dict):
            for key in item:
                code = flaw(key)
                if code:
                    return where, code, True
            stack.extend((child, f"{where}.{key}") for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in reversed(list(enumerate(item))))
    return None


def check_json(field: str, value: object) -> None:
    """400 naming the key or value inside a JSON value that cannot be stored."""
    found = flaw_path(value, field)
    if found:
        raise refuse(found[0], found[1], found[2])


def json_needs_check(data: str) -> bool:
    """Cheap gate on dumped JSON (ensure_ascii=False): could it hold unstorable text?"""
    return NUL_IN_JSON in data or (not data.isascii() and flaw(data) is not None)
