"""The contact filter's grammar as a schema: what app.services.audience.segments_filter compiles.

A filter is one of seven node shapes, each closed: and/or over a non-empty list, not over one
filter, or a condition on one field (text columns, the two timestamps, consent per channel, an
attribute) by the operators that field takes. The compiler still bounds a filter's size
(`filter_too_complex`) and a segment refuses attributes no contact has (`unknown_attribute`).
"""
from __future__ import annotations

from app.api.contract import define, ref
from app.api.schema_text import BOOLEAN, DATE_TIME, choice, matching, text
from app.services.audience.contacts_fields import CHANNELS, MAX_VALUE_CHARS
from app.services.audience.segments_filter import MAX_IN_VALUES, RANGES, TEXT_FIELDS, TIME_FIELDS

FILTER = ref("Filter")
OPERAND = text(maxLength=MAX_VALUE_CHARS)
SCALAR = {"anyOf": [OPERAND, {"type": ["number", "boolean"]}]}
COMPARISONS = ("eq", "ne", *RANGES)
TEXT_FIELD = {"type": "string", "enum": sorted(TEXT_FIELDS)}
TIME_FIELD = {"type": "string", "enum": sorted(TIME_FIELDS)}
CONSENT_FIELD = matching(rf"^consent\.({'|'.join(CHANNELS)})$", f"must be consent.<{'|'.join(CHANNELS)}>")
ATTRIBUTE_FIELD = matching(r"^attributes\.[A-Za-z_][A-Za-z0-9_]{0,62}$",
                           "must be attributes.<name> (letters, digits and _)")


def _listing(item: dict) -> dict:
    """The operand of `in`."""
    return {"type": "array", "minItems": 1, "maxItems": MAX_IN_VALUES, "items": item}


def _combination(key: str, operand: dict, description: str) -> dict:
    """A closed object with one key."""
    return {"type": "object", "description": description, "required": [key], "properties": {key: operand},
            "additionalProperties": False}


def _when(field: dict, operators: dict, allowed: str) -> dict:
    """The operators (and their operands) a kind of field takes."""
    names = choice(["field", *operators], allowed)
    return {"if": {"properties": {"field": field}}, "then": {"propertyNames": names, "properties": operators}}


CONDITION = {
    "type": "object", "required": ["field"], "minProperties": 2, "additionalProperties": False,
    "description": "One field compared by one or more operators (all must hold).",
    "properties": {"field": {"anyOf": [TEXT_FIELD, TIME_FIELD, CONSENT_FIELD, ATTRIBUTE_FIELD],
                             "description": f"{', '.join(sorted(TEXT_FIELDS))}, {', '.join(sorted(TIME_FIELDS))}, "
                                            f"consent.<channel> or attributes.<name>"},
                   **{op: True for op in (*COMPARISONS, "in", "exists")}},
    "allOf": [
        _when(TEXT_FIELD, {**{op: OPERAND for op in COMPARISONS}, "in": _listing(OPERAND), "exists": BOOLEAN},
              "a text field takes eq, ne, gt, gte, lt, lte, in or exists"),
        _when(TIME_FIELD, {op: DATE_TIME for op in RANGES}, "created_at and updated_at take gt, gte, lt or lte"),
        _when(CONSENT_FIELD, {"eq": BOOLEAN, "ne": BOOLEAN, "exists": BOOLEAN},
              "consent.<channel> takes eq or ne (true or false) or exists"),
        _when(ATTRIBUTE_FIELD, {"eq": SCALAR, "ne": SCALAR, "in": _listing(SCALAR), "exists": BOOLEAN,
                                **{op: {"anyOf": [OPERAND, {"type": "number"}]} for op in RANGES}},
              "an attribute takes eq, ne, gt, gte, lt, lte, in or exists"),
    ]}
SCHEMAS = {
    "FilterAnd": _combination("and", {"type": "array", "minItems": 1, "items": FILTER}, "Every filter holds."),
    "FilterOr": _combination("or", {"type": "array", "minItems": 1, "items": FILTER}, "At least one holds."),
    "FilterNot": _combination("not", FILTER, "The filter does not hold."),
    "FilterCondition": CONDITION,
}
FILTER_SCHEMA = {
    "description": "A contact filter: {and|or: [...]}, {not: {...}}, or {field, eq|ne|in|gt|gte|lt|lte|exists}. "
                   "At most 12 levels deep and 200 conditions (else 422 filter_too_complex).",
    "examples": [{"and": [{"field": "language", "in": ["bem", "nya"]}, {"field": "consent.sms", "eq": True}]}],
    "oneOf": [ref(name) for name in SCHEMAS],
}


def define_filter() -> dict:
    """Register the grammar's components; answer a reference to a filter."""
    for name, schema in SCHEMAS.items():
        define(name, schema)
    return define("Filter", FILTER_SCHEMA)
