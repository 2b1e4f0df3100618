"""Intake: the one way a broadcast is created, whatever addresses it.

An audience (a recipient list or CSV in `recipient_list`, a saved segment or a filter in
`segments_audience`) is admitted first: judged and counted, nothing written. Then the broadcasts
row, the audience's own rows and the create audit row are written in one transaction, and the
status is mirrored for the workers. A bad request leaves no trace; an Idempotency-Key replay, or
the loser of two requests racing on one key, gets the first broadcast and writes nothing.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Broadcast
from app.services.intake import broadcast_content
from app.services.state import broadcast_state, guard
from app.services.intake.broadcast_content import Candidate, Content, Scan
from app.services.intake.broadcast_request import BroadcastSpec
from app.services.intake.idempotency import check_replay
from app.services.limits.send_windows import settle_zone
from app.statuses import BroadcastStatus

# The broadcast option counting the recipients kept back as opted out (a segment adds to it page by page).
OPTED_OUT_OPTION = "opted_out"


@dataclass
class IntakeResult:
    """The broadcast, and whether this request created it (False on an idempotent replay)."""

    broadcast: Broadcast
    created: bool


@dataclass
class Admission:
    """What an audience amounts to before anything is written, and how to write its rows.

    `sendable` decides the status: rows already judged sendable (a list), or contacts still to be
    judged by the producer (a segment). `store(broadcast)` runs inside the create transaction.
    """

    total: int
    sendable: int
    store: Callable[[Broadcast], None]
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    opted_out: int = 0
    zones: set = field(default_factory=set)
    details: dict = field(default_factory=dict)


class Audience(Protocol):
    """Whom a broadcast addresses: judged and counted by `admit`, listed for a dry run by `candidates`."""

    def admit(self, service_id: int, broadcast_id: uuid.UUID, spec: BroadcastSpec, content: Content) -> Admission:
        """Judge and count the audience; write nothing."""

    def candidates(self, service_id: int, channel: str, scan: Scan) -> Iterator[Candidate]:
        """The audience's distinct recipients, counting what was read and what was a duplicate in `scan`."""


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


def initial_status(spec: BroadcastSpec, sendable: int) -> BroadcastStatus:
    """Scheduled when it has a start time; else running while anything may be sent, completed when nothing can."""
    if spec.scheduled_for:
        return BroadcastStatus.SCHEDULED
    return BroadcastStatus.RUNNING if sendable else BroadcastStatus.COMPLETED


def _options(spec: BroadcastSpec, window: dict | None, opted_out: int) -> dict:
    """The broadcast's options: sending window, transliteration, template version and variants, opted-out count."""
    options = {"send_window": window} if window else {}
    if spec.transliterate:
        options["transliterate"] = True
    if spec.template:
        options["template"] = spec.template
    if opted_out:
        options[OPTED_OUT_OPTION] = opted_out
    return options


def _new_broadcast(broadcast_id, service_id: int, spec: BroadcastSpec, admitted: Admission, *, provider: str,
                   idempotency_key: str | None, fingerprint: str) -> Broadcast:
    """The broadcasts row of an admitted audience (not yet added to the session)."""
    status = initial_status(spec, admitted.sendable)
    window = settle_zone(spec.send_window, {zone for zone in admitted.zones if zone})
    return Broadcast(
        id=broadcast_id, service_id=service_id, channel=spec.channel, provider=provider, body=spec.body,
        sender=spec.sender, priority=spec.priority, status=status, rate_limit_per_second=spec.rate_limit_per_second,
        scheduled_for=spec.scheduled_for, idempotency_key=idempotency_key, request_hash=fingerprint,
        recipient_count=admitted.total, accepted_count=admitted.accepted, rejected_count=admitted.rejected,
        duplicate_count=admitted.duplicates, options=_options(spec, window, admitted.opted_out),
        started_at=func.now() if status == BroadcastStatus.RUNNING else None,
    )


def _write(broadcast: Broadcast, admitted: Admission, actor: str) -> None:
    """Insert the broadcast, its audience's rows and the create audit row, and commit."""
    db.session.add(broadcast)
    db.session.flush()
    admitted.store(broadcast)
    reason = "no sendable recipients" if broadcast.status == BroadcastStatus.COMPLETED else None
    broadcast_state.record_audit(broadcast.service_id, broadcast.id, actor, "create", None, broadcast.status,
                                 reason, admitted.details)
    db.session.commit()


def create_broadcast(service_id: int, spec: BroadcastSpec, audience: Audience, *, provider: str, actor: str,
                     idempotency_key: str | None, fingerprint: str, max_chars: int) -> IntakeResult:
    """Write a broadcast to any audience atomically; replay if the key was seen."""
    replay = find_replay(service_id, idempotency_key, fingerprint)
    if replay is not None:
        return IntakeResult(replay, created=False)
    broadcast_id = uuid.uuid4()
    admitted = audience.admit(service_id, broadcast_id, spec, broadcast_content.for_spec(spec, max_chars))
    broadcast = _new_broadcast(broadcast_id, service_id, spec, admitted, provider=provider,
                               idempotency_key=idempotency_key, fingerprint=fingerprint)
    try:
        _write(broadcast, admitted, actor)
    except IntegrityError:
        # Two requests raced on one Idempotency-Key: the first one's broadcast is the answer.
        db.session.rollback()
        replay = find_replay(service_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return IntakeResult(replay, created=False)
    guard.publish(broadcast_id, broadcast.status, 1)
    return IntakeResult(broadcast, created=True)
