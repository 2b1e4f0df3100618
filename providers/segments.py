"""How many SMS segments a text costs: GSM-7 when every character allows it, else UCS-2."""
from __future__ import annotations

# GSM 03.38 default alphabet, in table order; the escape (0x1B) is left out on
# purpose because it only ever appears as the prefix of an extension character.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus its own, so two septets.
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

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
