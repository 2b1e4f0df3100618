"""How many SMS parts a message body takes on the wire."""
from __future__ import annotations

from functools import lru_cache

# The GSM 03.38 basic character set (the escape character itself excluded).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM-7 basic set."""
    return GSM7_BASIC.issuperset(text)


def _ucs2_units(text: str) -> int:
    """Length in UTF-16 code units, since characters outside the BMP take two."""
    return len(text.encode("utf-16-le")) // 2


def _parts(length: int, single: int, per_part: int) -> int:
    """Parts for a length: one if it fits, else ceil(length / per_part)."""
    if length <= single:
        return 1
    return -(-length // per_part)


# Bulk sends repeat one body many times, so the answer is cached per body.
@lru_cache(maxsize=4096)
def count_parts(text: str) -> int:
    """SMS parts for a message: GSM-7 when possible, else UCS-2."""
    if is_gsm7(text):
        return _parts(len(text), GSM7_SINGLE, GSM7_PART)
    return _parts(_ucs2_units(text), UCS2_SINGLE, UCS2_PART)
