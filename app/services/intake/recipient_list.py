"""A recipient list (JSON `recipients` or CSV rows) as a broadcast's audience.

Every entry is judged at POST and written with COPY in the create transaction: one messages
row per distinct address. The service's whole suppression list is loaded in one query, so
judging a recipient is a set lookup, never SQL per recipient.
"""
from __future__ import annotations

import io
import json
import uuid
from typing import Iterator

from app.errors import ValidationFailed
from app.extensions import db
from app.services.audience import optouts
from app.services.intake.broadcast_content import Candidate, Content, Scan, judge
from app.services.intake.broadcast_request import BroadcastSpec
from app.services.intake.intake import Admission
from app.services.channels.recipients import classify
from app.services.content.storable_text import NUL, check_json, check_text, json_needs_check
from app.services.state.message_state import OPTED_OUT_CODE
from app.statuses import MessageStatus

_COPY_SQL = (
    "COPY messages (broadcast_id, service_id, recipient, personalisation, carrier, region, status, error_code, error_detail)"
    " FROM STDIN"
)
_COPY_CHUNK_ROWS = 100_000
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# A rejected address is stored for the report, cut to a sane length.
_MAX_RAW_ADDRESS = 64


def _cell(value: str | None) -> str:
    """One COPY text-format field."""
    return _NULL if value is None else value.translate(_ESCAPES)


def _item_fields(index: int, item: object) -> tuple[str, dict | None]:
    """Pull (to, personalisation) out of one recipient entry, or 422 naming it."""
    if type(item) is not dict:
        raise ValidationFailed("each recipient must be an object with 'to'", {"field": f"recipients[{index}]"})
    to = item.get("to")
    if type(to) is not str:
        raise ValidationFailed("'to' is required and must be a string", {"field": f"recipients[{index}].to"})
    if NUL in to or not to.isascii():
        check_text(f"recipients[{index}].to", to)
    personalisation = item.get("personalisation")
    if personalisation is not None and type(personalisation) is not dict:
        raise ValidationFailed("personalisation must be an object",
                               {"field": f"recipients[{index}].personalisation"})
    return to, personalisation


def _stored(index: int, personalisation: dict | None, dumps) -> str | None:
    """The personalisation as stored JSON text; 400 if it holds text PostgreSQL cannot store."""
    if not personalisation:
        return None
    data = dumps(personalisation)
    if json_needs_check(data):
        # Rare: only now walk the object to name the key or value at fault.
        check_json(f"recipients[{index}].personalisation", personalisation)
    return data


class RecipientList:
    """The entries of one request, with the region their national numbers are read in."""

    def __init__(self, items: list, region: str) -> None:
        """Keep the entries; nothing is judged until asked."""
        self.items, self.region = items, region

    def candidates(self, service_id: int, channel: str, scan: Scan) -> Iterator[Candidate]:
        """Each distinct address once, in request order; 422/400 naming the first malformed entry."""
        suppressed = optouts.suppressed(service_id, channel)
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            to, personalisation = _item_fields(index, item)
            scan.total += 1
            number, verdict = classify(to, self.region)
            address = number or to.strip()[:_MAX_RAW_ADDRESS]
            if address in seen:
                scan.duplicates += 1
                continue
            seen.add(address)
            refusal = OPTED_OUT_CODE if verdict.valid and address in suppressed else None
            yield Candidate(address, verdict, personalisation, _stored(index, personalisation, dumps), refusal)
        if scan.total == 0:
            raise ValidationFailed("recipients is empty", {"field": "recipients"})

    def admit(self, service_id: int, broadcast_id: uuid.UUID, spec: BroadcastSpec, content: Content) -> Admission:
        """Judge every entry into a COPY line; the lines are written by the admission's `store`."""
        scan, zones, lines = Scan(), set(), []
        counts = {MessageStatus.PENDING: 0, MessageStatus.REJECTED: 0, MessageStatus.OPTED_OUT: 0}
        prefix = f"{broadcast_id}\t{service_id}\t"
        for candidate in self.candidates(service_id, spec.channel, scan):
            status, code, detail = judge(content, candidate)
            counts[status] += 1
            verdict = candidate.verdict
            if status == MessageStatus.PENDING:
                zones.add(verdict.zone)
            # Normalised numbers and carrier names never need COPY escaping; raw rejects might.
            address = candidate.address if verdict.valid else _cell(candidate.address)
            lines.append(f"{prefix}{address}\t{_cell(candidate.stored)}\t{verdict.carrier or _NULL}"
                         f"\t{verdict.region or _NULL}\t{status}\t{code or _NULL}\t{_cell(detail)}\n")
        accepted, rejected, opted_out = (counts[MessageStatus.PENDING], counts[MessageStatus.REJECTED],
                                         counts[MessageStatus.OPTED_OUT])
        return Admission(total=scan.total, sendable=accepted, store=lambda broadcast: _copy(lines), accepted=accepted,
                         rejected=rejected, duplicates=scan.duplicates, opted_out=opted_out, zones=zones,
                         details=dict(accepted=accepted, rejected=rejected, duplicates=scan.duplicates,
                                      opted_out=opted_out))


def _copy(lines: list[str]) -> None:
    """Stream the rows into PostgreSQL inside the session's transaction."""
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        for start in range(0, len(lines), _COPY_CHUNK_ROWS):
            cursor.copy_expert(_COPY_SQL, io.StringIO("".join(lines[start:start + _COPY_CHUNK_ROWS])))
    finally:
        cursor.close()
