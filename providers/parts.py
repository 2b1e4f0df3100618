"""SMS parts: how many parts a text costs (GSM-7 when every character allows it, else UCS-2), and its encoding.

A saved audience is a segment (app.services.audience.segments); a piece of a long SMS is a part.
"""
from __future__ import annotations

# GSM 03.38 default alphabet, in table order; the escape (0x1B) is left out on
# purpose because it only ever appears as the prefix of an extension character.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus its own, so two septets.
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Look-alikes that word processors and phones slip in, and the GSM-7 text an SMS can carry instead.
# Letters of Bemba and Nyanja (ŋ, ŵ) are left alone: changing a word is the operator's call, not ours.
_TRANSLITERATIONS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\u200d": "", "\ufeff": "", "\t": " ", "\u2022": "-", "\u00b7": "-",
})

GSM7, UCS2 = "GSM-7", "UCS-2"
GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153  # 7 septets of every part go to the concatenation header
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67  # 3 UTF-16 units of every part go to the concatenation header


def count_segments(text: str) -> int:
    """Return the number of SMS segments `text` is sent as (an empty text still costs one)."""
    widths = _gsm7_widths(text)
    if widths is not None:
        return _pack(widths, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS)
    return _pack(_ucs2_widths(text), UCS2_SINGLE_UNITS, UCS2_PART_UNITS)


def is_gsm7(text: str) -> bool:
    """Tell whether every character of `text` has a GSM-7 encoding."""
    return _gsm7_widths(text) is not None


def encoding(text: str) -> str:
    """"GSM-7" when every character allows it, else "UCS-2"."""
    return GSM7 if is_gsm7(text) else UCS2


def ucs2_culprits(text: str) -> list[str]:
    """The distinct characters that force `text` into UCS-2, in order of first appearance."""
    return list(dict.fromkeys(c for c in text if c not in _GSM7_BASIC and c not in _GSM7_EXTENSION))


def transliterate(text: str) -> str:
    """Replace smart quotes, dashes, ellipses, odd spaces and the like with GSM-7 equivalents."""
    return text.translate(_TRANSLITERATIONS)


def _gsm7_widths(text: str) -> list[int] | None:
    """Septets per character, or None as soon as one character needs UCS-2."""
    widths = []
    for char in text:
        if char in _GSM7_BASIC:
            widths.append(1)
        elif char in _GSM7_EXTENSION:
            widths.append(2)
        else:
            return None
    return widths


def _ucs2_widths(text: str) -> list[int]:
    """UTF-16 code units per character: characters beyond the BMP take a surrogate pair."""
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _pack(widths: list[int], single_limit: int, part_limit: int) -> int:
    """Count parts, never splitting one character (escape pair or surrogate pair) across two."""
    total = sum(widths)
    if total <= single_limit:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part_limit:
            parts += 1
            used = 0
        used += width
    return parts
