"""SMPP 3.4 PDUs as bytes: the header, the few bodies an ESME sends and reads, TLVs, receipts.

Only what Herald's transceiver needs: bind_transceiver, submit_sm, deliver_sm (receipts),
enquire_link, unbind and their responses. Integers are big-endian; strings are C-octet strings.
"""
from __future__ import annotations

import re
import struct
from typing import NamedTuple

HEADER = struct.Struct(">IIII")
# Real PDUs are a few hundred bytes; anything past this is a broken or hostile peer.
MAX_PDU_BYTES = 64 * 1024

GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESPONSE_BIT = 0x80000000

ESME_ROK = 0x00
ESME_RX_T_APPN = 0x64  # "temporary application error": the SMSC will deliver the receipt again

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_NETWORK_ERROR_CODE = 0x0423
# message_state values (SMPP 3.4 §5.2.28) as the receipt-text names they stand for.
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                  7: "UNKNOWN", 8: "REJECTD"}
ESM_CLASS_UDHI = 0x40
ESM_CLASS_RECEIPT = 0x04

_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):(\S*)", re.IGNORECASE)


class PDU(NamedTuple):
    """One decoded PDU: header fields plus the raw body."""

    command_id: int
    status: int
    sequence: int
    body: bytes


def encode(command_id: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> bytes:
    """A whole PDU: the 16-byte header then the body."""
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def pdu_length(buffer: bytes | bytearray) -> int | None:
    """The length the next PDU in `buffer` declares, or None until its header is there."""
    if len(buffer) < 4:
        return None
    length = int.from_bytes(buffer[:4], "big")
    if not HEADER.size <= length <= MAX_PDU_BYTES:
        raise ValueError(f"PDU length {length} out of range")
    return length


def split_pdus(buffer: bytearray) -> list[PDU]:
    """Take every complete PDU off the front of `buffer`, leaving a partial one in place."""
    pdus = []
    while (length := pdu_length(buffer)) is not None and len(buffer) >= length:
        _, command_id, status, sequence = HEADER.unpack_from(buffer)
        pdus.append(PDU(command_id, status, sequence, bytes(buffer[HEADER.size:length])))
        del buffer[:length]
    return pdus


def cstring(text: str) -> bytes:
    """A C-octet string: ASCII then a NUL."""
    return text.encode("ascii") + b"\x00"


def read_cstring(body: bytes, offset: int) -> tuple[str, int]:
    """The C-octet string at `offset` and the offset after its NUL."""
    end = body.index(b"\x00", offset)
    return body[offset:end].decode("latin-1"), end + 1


def bind_transceiver_body(system_id: str, password: str, system_type: str) -> bytes:
    """bind_transceiver: credentials, interface version 3.4, no address range."""
    return cstring(system_id) + cstring(password) + cstring(system_type) + bytes([0x34, 0, 0]) + b"\x00"


class Submit(NamedTuple):
    """One submit_sm's variable fields."""

    source: str
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes


def submit_sm_body(submit: Submit) -> bytes:
    """submit_sm asking for a final receipt; the destination as international E.164 digits."""
    source_ton = 5 if not submit.source.isdigit() else 1  # alphanumeric sender ids are TON 5
    return b"".join((
        cstring(""),  # service_type: the SMSC default
        bytes([source_ton, 0 if source_ton == 5 else 1]), cstring(submit.source),
        bytes([1, 1]), cstring(submit.destination.lstrip("+")),
        bytes([submit.esm_class, 0, 0]),  # esm_class, protocol_id, priority_flag
        cstring(""), cstring(""),  # schedule_delivery_time, validity_period: now, SMSC default
        bytes([1, 0, submit.data_coding, 0, len(submit.short_message)]),  # registered_delivery=final receipt
        submit.short_message,
    ))


def submit_sm_resp_message_id(body: bytes) -> str:
    """The message_id of a submit_sm_resp (empty when the SMSC sent no body, as on errors)."""
    if not body:
        return ""
    return read_cstring(body, 0)[0]


def deliver_sm_fields(body: bytes) -> dict[str, str]:
    """A deliver_sm's addresses, esm_class, text and known TLVs as strings (the receipt's raw form)."""
    offset = read_cstring(body, 0)[1] + 2  # service_type, source ton/npi
    source_ton = body[offset - 2]
    source, offset = read_cstring(body, offset)
    destination, offset = read_cstring(body, offset + 2)
    esm_class = body[offset]
    offset = read_cstring(body, offset + 3)[1]  # skip protocol_id, priority; schedule
    offset = read_cstring(body, offset)[1]  # validity
    # registered_delivery, replace_if_present, data_coding, sm_default_msg_id, sm_length, short_message
    data_coding, length = body[offset + 2], body[offset + 4]
    text = body[offset + 5:offset + 5 + length]
    fields = {"source_addr": source, "source_addr_ton": str(source_ton), "destination_addr": destination,
              "esm_class": str(esm_class),
              "short_message": text.decode("utf-16-be" if data_coding == 8 else "latin-1", "replace")}
    fields.update(read_tlvs(body[offset + 5 + length:]))
    return fields


def read_tlvs(data: bytes) -> dict[str, str]:
    """The receipt TLVs Herald reads, as strings; others are skipped."""
    found, offset = {}, 0
    while offset + 4 <= len(data):
        tag, length = struct.unpack_from(">HH", data, offset)
        value = data[offset + 4:offset + 4 + length]
        offset += 4 + length
        if tag == TLV_RECEIPTED_MESSAGE_ID:
            found["receipted_message_id"] = value.rstrip(b"\x00").decode("latin-1")
        elif tag == TLV_MESSAGE_STATE and value:
            found["message_state"] = MESSAGE_STATES.get(value[0], "UNKNOWN")
        elif tag == TLV_NETWORK_ERROR_CODE and len(value) == 3:
            found["network_error_code"] = str(int.from_bytes(value[1:], "big"))
    return found


def receipt_fields(text: str) -> dict[str, str]:
    """The `key:value` fields of a receipt text (`id:… sub:… dlvrd:… submit date:… stat:… err:…`)."""
    return {key.lower(): value for key, value in _RECEIPT_FIELD.findall(text)}
