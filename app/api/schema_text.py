"""Schema fragments for the text, times and ids requests carry, shared by every request declaration.

Every string a request may carry is declared storable: PostgreSQL's text holds no NUL (U+0000),
and a lone UTF-16 surrogate cannot be encoded at all (I-JSON, RFC 7493, forbids both); such text
is refused with 400 naming the field before any other check. "Blank" is what Python's str.strip()
removes, spelled out so every regex engine reads the same set.
"""
from __future__ import annotations

import sys

from app.api.contract import Setting
from app.api.contract_errors import PATTERN_MEANINGS

STORABLE = r"^[^\u0000]*$"
# Every blank is in the Basic Multilingual Plane, so a \uXXXX escape spells each.
BLANK_CLASS = "".join(f"\\u{code:04x}" for code in range(sys.maxunicode + 1) if chr(code).isspace())
NOT_BLANK = rf"^[^\u0000]*[^\u0000{BLANK_CLASS}][^\u0000]*$"
BLANK_ONLY = rf"^[{BLANK_CLASS}]*$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# RFC 3339 with the offset Python's datetime.fromisoformat reads: years 0001-9999, no leap second.
DATE_TIME_PATTERN = (r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                     r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
BIGINT_MAX = 2**63 - 1
MAX_BODY_CHARS = Setting("HERALD_MAX_BODY_CHARS")
MAX_RECIPIENTS = Setting("HERALD_MAX_RECIPIENTS")


def matching(regex: str, meaning: str, description: str = "", **rules) -> dict:
    """A string matching a pattern; `meaning` says it in words when a request breaks it."""
    PATTERN_MEANINGS[regex] = meaning
    schema = {"type": "string", "pattern": regex, **rules}
    return {**schema, "description": description} if description else schema


def text(description: str = "", **rules) -> dict:
    """A storable string, with further rules (a `pattern` of its own must exclude NUL too)."""
    schema = {"type": "string", "pattern": STORABLE, **rules}
    return {**schema, "description": description} if description else schema


def words(description: str = "", **rules) -> dict:
    """A storable string holding something besides blanks."""
    return text(description, **{"pattern": NOT_BLANK, **rules})


def nullable(schema: dict) -> dict:
    """The same schema, also allowing null (an enum gains null too)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    widened = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def choice(values, description: str = "", **rules) -> dict:
    """One of a fixed set of strings."""
    schema = {"type": "string", "enum": list(values), **rules}
    return {**schema, "description": description} if description else schema


def integer(minimum: int | None = None, maximum: int | None = None, description: str = "", **rules) -> dict:
    """An integer within bounds."""
    schema = {"type": "integer", **rules}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return {**schema, "description": description} if description else schema


PATTERN_MEANINGS.update({STORABLE: "must not contain a NUL character",
                         NOT_BLANK: "must hold more than blanks", BLANK_ONLY: "must be blank"})
BOOLEAN = {"type": "boolean"}
NAME = matching(NAME_PATTERN, "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
UUID = {"type": "string", "format": "uuid"}
DATE_TIME = {**matching(DATE_TIME_PATTERN, "must be an RFC 3339 date-time with a UTC offset, e.g. "
                                           "2026-11-23T08:00:00+02:00"), "format": "date-time"}
# Any JSON value whose keys and strings are storable: the open parts of a body (extra fields,
# personalisation values, attributes) hold this, as the whole-body check refuses the rest.
ANY_JSON = {"$ref": "#/components/schemas/StorableJson"}
STORABLE_JSON = {
    "description": "Any JSON value whose keys and strings hold no NUL character.",
    "anyOf": [{"type": ["number", "boolean", "null"]}, text(),
              {"type": "array", "items": ANY_JSON},
              {"type": "object", "propertyNames": text(), "additionalProperties": ANY_JSON}]}


def record(properties: dict, *, required=(), closed: bool = False, description: str = "", **rules) -> dict:
    """An object schema: listed fields, those required, and either no others (closed: 422 naming
    the unknown field) or others of any storable JSON (the code ignores them)."""
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    schema.update({"additionalProperties": False} if closed else {"propertyNames": text(),
                                                                    "additionalProperties": ANY_JSON})
    schema.update(rules)
    return {**schema, "description": description} if description else schema
