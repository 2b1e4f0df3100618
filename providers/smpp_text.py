"""A message body as SMPP short_message parts: GSM-7 or UCS-2, concatenated with a UDH when long.

GSM-7 goes out with data_coding 0x00 as *unpacked* septets, one per octet: SMPP 3.4 leaves
packing to the SMSC, and the SMSCs Herald meets (and the sandbox) expect it so. UCS-2 goes out
with data_coding 0x08 as UTF-16 big-endian. Part sizes follow providers.parts, so the parts
sent are the segments counted and billed.
"""
from __future__ import annotations

from typing import NamedTuple

from providers.parts import (GSM7_PART_SEPTETS, GSM7_SINGLE_SEPTETS, UCS2_PART_UNITS, UCS2_SINGLE_UNITS,
                                is_gsm7)

DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
_ESCAPE = 0x1B
# GSM 03.38 basic table in code order; "\x1b" holds the escape slot so indexes are the septets.
_GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_BASIC = {char: bytes([code]) for code, char in enumerate(_GSM7_TABLE) if code != _ESCAPE}
_GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                   "|": 0x40, "€": 0x65}
_GSM7_CODES = {**_GSM7_BASIC, **{char: bytes([_ESCAPE, code]) for char, code in _GSM7_EXTENSION.items()}}


class Encoded(NamedTuple):
    """A body ready for submit_sm: its data_coding and one short_message per part (UDH included)."""

    data_coding: int
    parts: list[bytes]

    @property
    def concatenated(self) -> bool:
        """Whether the parts carry a UDH (esm_class UDHI must be set)."""
        return len(self.parts) > 1


def encode_body(text: str, reference: int) -> Encoded:
    """Encode `text` in the narrowest coding and split it; `reference` (0-255) ties the parts together."""
    if is_gsm7(text):
        units = [_GSM7_CODES[char] for char in text]
        chunks = _split(units, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS, width=1)
        coding = DATA_CODING_GSM7
    else:
        units = [char.encode("utf-16-be") for char in text]
        chunks = _split(units, UCS2_SINGLE_UNITS, UCS2_PART_UNITS, width=2)
        coding = DATA_CODING_UCS2
    if len(chunks) == 1:
        return Encoded(coding, chunks)
    if len(chunks) > 255:
        raise ValueError(f"message needs {len(chunks)} parts; a concatenated SMS has at most 255")
    total = len(chunks)
    return Encoded(coding, [_udh(reference, total, number) + chunk for number, chunk in enumerate(chunks, 1)])


def _split(units: list[bytes], single_limit: int, part_limit: int, width: int) -> list[bytes]:
    """Join encoded characters into parts, never cutting an escape or surrogate pair in two."""
    if sum(len(unit) for unit in units) // width <= single_limit:
        return [b"".join(units)]
    parts, current, used = [], [], 0
    for unit in units:
        size = len(unit) // width
        if used + size > part_limit:
            parts.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += size
    parts.append(b"".join(current))
    return parts


def _udh(reference: int, total: int, number: int) -> bytes:
    """The concatenation header: IEI 0x00 (8-bit reference), length 3, reference, total, this part."""
    return bytes([0x05, 0x00, 0x03, reference & 0xFF, total, number])


def decode_gsm7(septets: bytes) -> str:
    """Unpacked GSM-7 back to text (the sandbox's and the tests' view of what was sent)."""
    extension = {code: char for char, code in _GSM7_EXTENSION.items()}
    chars, escaped = [], False
    for code in septets:
        if escaped:
            chars.append(extension.get(code, " "))
            escaped = False
        elif code == _ESCAPE:
            escaped = True
        else:
            chars.append(_GSM7_TABLE[code] if code < len(_GSM7_TABLE) else "?")
    return "".join(chars)
