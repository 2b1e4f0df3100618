"""Intake: a validated broadcast request becomes one broadcasts row and one messages row
per distinct recipient, written with COPY in a single transaction.

Nothing is written until every recipient has been judged, so a bad request leaves
no trace; an Idempotency-Key replay returns the first broadcast and writes nothing.
"""
from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Broadcast
from app.services import broadcast_state, guard, optouts
from app.services.broadcast_request import BroadcastSpec
from app.services.idempotency import check_replay
from app.services.recipients import classify
from app.services.send_windows import settle_zone
from app.services.storable_text import NUL, check_json, check_text, json_needs_check
from app.services.templates import Template, compile_variants

_COPY_SQL = (
    "COPY messages (broadcast_id, service_id, recipient, personalisation, carrier, region, status, error_code, error_detail)"
    " FROM STDIN"
)
_COPY_CHUNK_ROWS = 100_000
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# A rejected address is stored for the report, cut to a sane length.
_MAX_RAW_ADDRESS = 64


@dataclass
class IntakeResult:
    """The broadcast, and whether this request created it (False on an idempotent replay)."""

    broadcast: Broadcast
    created: bool


@dataclass
class _Tally:
    """Counts gathered while judging recipients."""

    total: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    opted_out: int = 0
    zones: set = field(default_factory=set)


def find_replay(service_id: int, idempotency_key: str | None, fingerprint: str) -> Broadcast | None:
    """The broadcast an Idempotency-Key already made, or None; 422 if the body differs."""
    if not idempotency_key:
        return None
    existing = db.session.execute(
        select(Broadcast).where(Broadcast.service_id == service_id, Broadcast.idempotency_key == idempotency_key)
    ).scalar()
    if existing is not None:
        check_replay(idempotency_key, existing.request_hash, fingerprint, {"broadcast_id": str(existing.id)})
    return existing


def _cell(value: str | None) -> str:
    """One COPY text-format field."""
    return _NULL if value is None else value.translate(_ESCAPES)


def _item_fields(index: int, item: object) -> tuple[object, dict | None]:
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


def _judge(template: Template, verdict, personalisation: dict | None, max_chars: int) -> tuple:
    """(status, error code, error detail) of one recipient whose address has been judged."""
    if not verdict.valid:
        return "rejected", verdict.reason, None
    if not template.fields:
        return "pending", None, None
    missing, length = template.fill(personalisation)
    if missing:
        return "rejected", "missing_personalisation", ",".join(missing)
    if length > max_chars:
        return "rejected", "message_too_long", f"{length} characters; the limit is {max_chars}"
    return "pending", None, None


def _personalisation_cell(index: int, personalisation: dict | None, dumps) -> str:
    """The COPY field for one recipient's personalisation; 400 if it holds text PostgreSQL cannot store."""
    if not personalisation:
        return _NULL
    data = dumps(personalisation)
    if json_needs_check(data):
        # Rare: only now walk the object to name the key or value at fault.
        check_json(f"recipients[{index}].personalisation", personalisation)
    return _cell(data)


def build_rows(spec: BroadcastSpec, items: Iterable, region: str, prefix: str, tally: _Tally,
               max_chars: int, suppressed: frozenset = frozenset()) -> list[str]:
    """Judge every recipient and return COPY lines (without the broadcast columns' values)."""
    template = compile_variants(spec.body, spec.variants, spec.channel)
    seen: set[str] = set()
    lines: list[str] = []
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for index, item in enumerate(items):
        to, personalisation = _item_fields(index, item)
        tally.total += 1
        number, verdict = classify(to, region)
        address = number or to.strip()[:_MAX_RAW_ADDRESS]
        if address in seen:
            tally.duplicates += 1
            continue
        seen.add(address)
        status, code, detail = _judge(template, verdict, personalisation, max_chars)
        if status == "pending" and address in suppressed:
            status, code = "opted_out", "opted_out"
            tally.opted_out += 1
        elif status == "pending":
            tally.accepted += 1
            tally.zones.add(verdict.zone)
        else:
            tally.rejected += 1
        data = _personalisation_cell(index, personalisation, dumps)
        # Normalised numbers and carrier names never need COPY escaping; raw rejects might.
        lines.append(f"{prefix}{address if number else _cell(address)}\t{data}\t{verdict.carrier or _NULL}"
                     f"\t{verdict.region or _NULL}\t{status}\t{code or _NULL}\t{_cell(detail)}\n")
    return lines


def _options(spec: BroadcastSpec, window: dict | None, tally: _Tally) -> dict:
    """The broadcast's options: sending window, transliteration, template version, opted-out count."""
    options = {"send_window": window} if window else {}
    if spec.transliterate:
        options["transliterate"] = True
    if spec.template:
        options["template"] = spec.template
    if tally.opted_out:
        options["opted_out"] = tally.opted_out
    return options


def _copy(lines: list[str]) -> None:
    """Stream the rows into PostgreSQL inside the session's transaction."""
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        for start in range(0, len(lines), _COPY_CHUNK_ROWS):
            cursor.copy_expert(_COPY_SQL, io.StringIO("".join(lines[start:start + _COPY_CHUNK_ROWS])))
    finally:
        cursor.close()


def create_broadcast(service_id: int, spec: BroadcastSpec, items: Iterable, *, provider: str, region: str,
                     actor: str, idempotency_key: str | None, fingerprint: str, max_chars: int) -> IntakeResult:
    """Write a broadcast and its messages atomically; replay if the key was seen."""
    replay = find_replay(service_id, idempotency_key, fingerprint)
    if replay is not None:
        return IntakeResult(replay, created=False)
    broadcast_id = uuid.uuid4()
    tally = _Tally()
    # The service's whole suppression list in one query: a set lookup per recipient, no SQL per recipient.
    lines = build_rows(spec, items, region, f"{broadcast_id}\t{service_id}\t", tally, max_chars,
                       optouts.suppressed(service_id, spec.channel))
    if tally.total == 0:
        raise ValidationFailed("recipients is empty", {"field": "recipients"})
    window = settle_zone(spec.send_window, {zone for zone in tally.zones if zone})
    status = "scheduled" if spec.scheduled_for else ("running" if tally.accepted else "completed")
    broadcast = Broadcast(
        id=broadcast_id, service_id=service_id, channel=spec.channel, provider=provider, body=spec.body,
        sender=spec.sender, priority=spec.priority, status=status, rate_limit_per_second=spec.rate_limit_per_second,
        scheduled_for=spec.scheduled_for, idempotency_key=idempotency_key, request_hash=fingerprint,
        recipient_count=tally.total, accepted_count=tally.accepted, rejected_count=tally.rejected,
        duplicate_count=tally.duplicates, options=_options(spec, window, tally),
        started_at=func.now() if status == "running" else None,
    )
    try:
        db.session.add(broadcast)
        db.session.flush()
        _copy(lines)
        broadcast_state.record_audit(service_id, broadcast_id, actor, "create", None, status,
                                     "no sendable recipients" if status == "completed" else None,
                                     {"accepted": tally.accepted, "rejected": tally.rejected,
                                      "duplicates": tally.duplicates, "opted_out": tally.opted_out})
        db.session.commit()
        guard.publish(broadcast_id, status, 1)
    except IntegrityError:
        # Two requests raced on one Idempotency-Key: the first one's broadcast is the answer.
        db.session.rollback()
        replay = find_replay(service_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return IntakeResult(replay, created=False)
    return IntakeResult(broadcast, created=True)
