"""The SMSC side of SMPP 3.4: PDU framing, bind and submit_sm parsing, receipt deliver_sm building.

Written apart from providers/smpp_pdu.py on purpose: a codec bug shared by both ends would
pass every test against the sandbox and fail against a real SMSC.
"""
from __future__ import annotations

import struct
import time
from typing import NamedTuple

BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP = 0x09, 0x80000009
SUBMIT_SM, SUBMIT_SM_RESP = 0x04, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x05, 0x80000005
UNBIND, UNBIND_RESP = 0x06, 0x80000006
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x15, 0x80000015
GENERIC_NACK = 0x80000000

ROK, RINVCMDID, RINVBNDSTS, RSYSERR, RINVDSTADR = 0x00, 0x03, 0x04, 0x08, 0x0B
RINVPASWD, RINVSYSID, RTHROTTLED = 0x0E, 0x0F, 0x58
RBINDFAIL = 0x0D
MAX_PDU = 64 * 1024


class Pdu(NamedTuple):
    """A PDU as the header's fields and its body."""

    command_id: int
    status: int
    sequence: int
    body: bytes


class SubmitSm(NamedTuple):
    """The submit_sm fields the sandbox acts on."""

    destination: str  # '+' added for TON 1 (international), as Herald's ledger keys numbers
    esm_class: int
    data_coding: int
    short_message: bytes

    def concatenation(self) -> tuple[int, int, int] | None:
        """(reference, total, part) from an IEI 0x00 UDH, or None for a single message."""
        if not self.esm_class & 0x40 or len(self.short_message) < 6:
            return None
        udh = self.short_message
        if udh[1] != 0x00 or udh[2] != 3:
            return None
        return udh[3], udh[4], udh[5]


def frame(command_id: int, sequence: int, body: bytes = b"", status: int = ROK) -> bytes:
    """Header (length, id, status, sequence) plus body."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body


def take_pdus(buffer: bytearray) -> list[Pdu]:
    """Every complete PDU at the front of `buffer`; ValueError for an impossible length."""
    found = []
    while len(buffer) >= 16:
        length, command_id, status, sequence = struct.unpack_from(">IIII", buffer)
        if length < 16 or length > MAX_PDU:
            raise ValueError(f"bad PDU length {length}")
        if len(buffer) < length:
            break
        found.append(Pdu(command_id, status, sequence, bytes(buffer[16:length])))
        del buffer[:length]
    return found


def _cstrings(body: bytes, offset: int, count: int) -> tuple[list[str], int]:
    """`count` NUL-terminated strings from `offset`, and the offset after them."""
    values = []
    for _ in range(count):
        end = body.index(b"\x00", offset)
        values.append(body[offset:end].decode("latin-1"))
        offset = end + 1
    return values, offset


def parse_bind(body: bytes) -> tuple[str, str]:
    """system_id and password of a bind request."""
    (system_id, password), _ = _cstrings(body, 0, 2)
    return system_id, password


def parse_submit(body: bytes) -> SubmitSm:
    """The destination, esm_class, data_coding and short_message of a submit_sm."""
    _, offset = _cstrings(body, 0, 1)  # service_type
    _, offset = _cstrings(body, offset + 2, 1)  # source ton/npi, source_addr
    dest_ton = body[offset]
    (destination,), offset = _cstrings(body, offset + 2, 1)
    esm_class = body[offset]
    _, offset = _cstrings(body, offset + 3, 2)  # protocol_id, priority; schedule, validity
    data_coding, length = body[offset + 2], body[offset + 4]
    message = body[offset + 5:offset + 5 + length]
    if dest_ton == 1 and not destination.startswith("+"):
        destination = "+" + destination
    return SubmitSm(destination, esm_class, data_coding, message)


def _stamp(when: float) -> str:
    """A receipt date: YYMMDDhhmm."""
    return time.strftime("%y%m%d%H%M", time.gmtime(when))


def receipt(message_id: str, number: str, stat: str, err: str, submitted: float, state_code: int) -> bytes:
    """A deliver_sm body carrying a receipt: the standard text plus both receipt TLVs."""
    dlvrd = "001" if stat == "DELIVRD" else "000"
    text = (f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{_stamp(submitted)} "
            f"done date:{_stamp(time.time())} stat:{stat} err:{err} text:").encode("ascii")
    tlvs = struct.pack(">HH", 0x001E, len(message_id) + 1) + message_id.encode("ascii") + b"\x00"
    tlvs += struct.pack(">HHB", 0x0427, 1, state_code)
    return (b"\x00" + bytes([1, 1]) + number.lstrip("+").encode("ascii") + b"\x00"  # service_type, source
            + bytes([5, 0]) + b"HERALD\x00"  # destination: the ESME's sender
            + bytes([0x04, 0, 0]) + b"\x00\x00"  # esm_class: SMSC delivery receipt
            + bytes([0, 0, 0, 0, len(text)]) + text + tlvs)


def mobile_originated(source: str, destination: str, text: str) -> bytes:
    """A deliver_sm body carrying a person's text to the ESME (esm_class 0: no receipt bit), GSM-7 as latin-1."""
    data = text.encode("latin-1", "replace")[:254]
    return (b"\x00" + bytes([1, 1]) + source.lstrip("+").encode("ascii") + b"\x00"  # service_type, source
            + bytes([0, 0]) + destination.encode("ascii") + b"\x00"
            + bytes([0x00, 0, 0]) + b"\x00\x00"  # esm_class 0, protocol_id, priority; schedule, validity
            + bytes([0, 0, 0, 0, len(data)]) + data)
