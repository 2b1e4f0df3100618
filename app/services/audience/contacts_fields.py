"""One contact field at a time: normalised, or a reason it cannot be stored.

Shared by the CSV import (a bad cell rejects its row) and PATCH (a bad field is a 422).
"""
from __future__ import annotations

import math
import re
from datetime import datetime

from app.services.channels import registry
from app.services.channels.recipients import classify
from app.services.content.storable_text import flaw

CHANNELS = tuple(registry.with_contact_field())
ADDRESS_FIELDS = ("phone", "email", "whatsapp", "inbox_user_id")
# Attribute names reach SQL only as bind parameters, but a narrow shape also keeps CSV headers,
# filters and template placeholders speaking about the same names.
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_YES = {"yes", "y", "true", "1", "granted"}
_NO = {"no", "n", "false", "0", "withdrawn", "refused"}
# /v1/contacts/import and /export are the contact list's own paths, so no contact may be named so.
RESERVED_EXTERNAL_IDS = ("import", "export")
# Longest external id, address or attribute value kept: an identifier, not a document.
MAX_VALUE_CHARS = 1000
# A CSV cell's attributes JSON can carry either as a \u escape.
_UNSTORABLE = {"nul_character": "contains a NUL character", "lone_surrogate": "contains a lone UTF-16 surrogate"}


class FieldRejected(ValueError):
    """A field's value cannot be stored; args are (field, reason); `code` is the API's error code for it."""

    def __init__(self, field: str, reason: str, code: str = "validation_failed") -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason
        self.code = code


def text_value(field: str, value: object) -> str | None:
    """A stripped string or None for empty; rejects non-strings, unstorable text and overlong values."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldRejected(field, "must be a string")
    code = flaw(value)
    if code:
        raise FieldRejected(field, _UNSTORABLE[code])
    value = value.strip()
    if len(value) > MAX_VALUE_CHARS:
        raise FieldRejected(field, f"is longer than {MAX_VALUE_CHARS} characters")
    return value or None


def phone(field: str, value: object, region: str) -> tuple[str | None, str | None, str | None]:
    """(E.164, carrier, why it cannot receive SMS) for a phone cell; unparseable text is rejected."""
    raw = text_value(field, value)
    if raw is None:
        return None, None, None
    number, verdict = classify(raw, region)
    if number is None:
        raise FieldRejected(field, "not a phone number", "invalid_phone_number")
    return number, verdict.carrier, verdict.reason


def email(field: str, value: object) -> str | None:
    """An address with one @ and a dotted domain, the domain lower-cased."""
    raw = text_value(field, value)
    if raw is None:
        return None
    if not _EMAIL.match(raw):
        raise FieldRejected(field, "not an email address")
    local, domain = raw.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def language(field: str, value: object) -> str | None:
    """A BCP 47-ish language tag such as en, bem, ny or en-ZM."""
    raw = text_value(field, value)
    if raw is not None and not _LANGUAGE.match(raw):
        raise FieldRejected(field, "not a language code such as en, bem or ny")
    return raw


def consent_flag(field: str, value: object) -> bool | None:
    """yes/no (and true/false, 1/0, granted/withdrawn) as a boolean; empty means not given."""
    if isinstance(value, bool) or value is None:
        return value
    raw = text_value(field, value)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in _YES or lowered in _NO:
        return lowered in _YES
    raise FieldRejected(field, "must be yes or no")


def timestamp(field: str, value: object) -> str | None:
    """An ISO 8601 time with a UTC offset, kept as its ISO text."""
    raw = text_value(field, value)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FieldRejected(field, "not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise FieldRejected(field, "needs a UTC offset")
    return when.isoformat()


def attribute_name(field: str, name: object) -> str:
    """An attribute name of letters, digits and underscores, not starting with a digit."""
    if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name):
        raise FieldRejected(field, "attribute names are letters, digits and _ (not first), at most 63")
    return name


def attribute_value(field: str, value: object) -> object:
    """A string, number or boolean attribute value (None removes the attribute on PATCH)."""
    if isinstance(value, str):
        return text_value(field, value)
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldRejected(field, "numbers must be finite")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise FieldRejected(field, "attribute values are strings, numbers or booleans")
