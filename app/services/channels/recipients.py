"""Recipient addresses: normalise to E.164, validate, and name the carrier.

phonenumbers costs ~60 µs per number, too slow for a 50,000-row POST answered
in under a second. Numbering plans allocate validity and carrier by prefix and
length, so the verdict for one number holds for every number sharing its first
PREFIX_DIGITS digits and its length; each such class is asked once and cached.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import carrier as carrier_names
from phonenumbers import timezone as timezone_names

# Digits (country code included) that decide a number's validity and carrier.
PREFIX_DIGITS = 7
_PUNCTUATION = str.maketrans("", "", " -().\u00a0/")
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one prefix class of numbers is: valid mobile or not, and whose."""

    valid: bool
    carrier: str | None
    reason: str | None
    zone: str | None = None
    # ISO region (ZM, CA, GG...) the number belongs to: routes match on it, never on the calling code.
    region: str | None = None


@lru_cache(maxsize=64)
def _national_prefix(region: str) -> tuple[str, str] | None:
    """(country code, trunk prefix) for a region, e.g. ('260', '0') for ZM."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return None
    return str(meta.country_code), meta.national_prefix or ""


_VERDICTS: dict[tuple[str, int], Verdict] = {}
# Bound on cached classes; the world's numbering plans need far fewer.
_MAX_VERDICTS = 500_000


def _verdict(number: str) -> Verdict:
    """The cached verdict for this number's (prefix, length) class."""
    key = (number[: PREFIX_DIGITS + 1], len(number))
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _judge(number)
        if len(_VERDICTS) < _MAX_VERDICTS:
            _VERDICTS[key] = verdict
    return verdict


def _judge(sample: str) -> Verdict:
    """Ask phonenumbers about one representative of a (prefix, length) class."""
    try:
        parsed = phonenumbers.parse(sample, None)
    except phonenumbers.NumberParseException:
        return Verdict(False, None, "unparseable")
    if not phonenumbers.is_valid_number(parsed):
        return Verdict(False, None, "invalid_number")
    if phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        return Verdict(False, None, "not_mobile")
    zones = timezone_names.time_zones_for_number(parsed)
    zone = zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None
    return Verdict(True, carrier_names.name_for_number(parsed, "en") or None, None, zone,
                   phonenumbers.region_code_for_number(parsed))


def ascii_digits(raw: str) -> str:
    """Digits of any script (full-width ２, Arabic-Indic ٢, ...) as ASCII; invisible marks dropped.

    NFKC folds full-width forms (digits and ＋); decimal digits of other scripts have no
    compatibility form, so each is mapped by its digit value. Direction marks (category Cf),
    common around numbers typed in right-to-left text, are removed.
    """
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch
                   for ch in folded if unicodedata.category(ch) != "Cf")


def to_e164_digits(raw: str, region: str) -> str | None:
    """Cheap syntactic normalisation to '+digits'; None if it cannot be a number."""
    if not raw.isascii():
        # Rare, and checked in O(1): only such addresses pay for Unicode normalisation, so one
        # person written in two scripts is one recipient (a duplicate), not two messages.
        raw = ascii_digits(raw)
    if raw[:1] == "+" and raw[1:].isdigit() and 8 <= len(raw) - 1 <= 15 and raw.isascii():
        return raw  # already E.164: the common case, and the cheapest
    text = raw.strip().translate(_PUNCTUATION)
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        plan = _national_prefix(region)
        if plan is None or not text.isdigit():
            return None
        country_code, trunk = plan
        digits = country_code + (text[len(trunk):] if trunk and text.startswith(trunk) else text)
    if not (digits.isascii() and digits.isdigit()) or not 8 <= len(digits) <= 15:
        return None
    return "+" + digits


def region_of(number: str | None) -> str | None:
    """The ISO region of a normalised number (cached per prefix class); None if it cannot receive SMS."""
    return _verdict(number).region if number else None


def classify(raw: object, region: str) -> tuple[str | None, Verdict]:
    """Normalise one address and judge it: (E.164 or None, verdict)."""
    if not isinstance(raw, str):
        return None, Verdict(False, None, "not_a_string")
    number = to_e164_digits(raw, region)
    if number is None:
        return None, Verdict(False, None, "unparseable")
    return number, _verdict(number)
