"""The dead-letter list: inspect, requeue or discard what could not be sent."""
from __future__ import annotations

from sqlalchemy import select, text

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import Broadcast, DeadLetter
from app.services import broadcast_state, guard, message_state

_RESOLVE = text("""
UPDATE dead_letters SET resolved_at = now(), resolution = :resolution, resolved_by = :actor
 WHERE id = :id AND resolved_at IS NULL
""")


def list_open(service_id: int, after_id: int = 0, limit: int = 100, broadcast_id=None) -> list[DeadLetter]:
    """Open dead letters of a service, oldest first, keyset-paginated by id."""
    query = select(DeadLetter).where(DeadLetter.service_id == service_id, DeadLetter.resolved_at.is_(None),
                                     DeadLetter.id > after_id)
    if broadcast_id is not None:
        query = query.where(DeadLetter.broadcast_id == broadcast_id)
    return list(db.session.execute(query.order_by(DeadLetter.id).limit(limit)).scalars())


def _open_entry(service_id: int, dead_letter_id: int) -> DeadLetter:
    """An open dead letter of this service, locked; 404 or 409 otherwise."""
    entry = db.session.execute(
        select(DeadLetter).where(DeadLetter.id == dead_letter_id, DeadLetter.service_id == service_id)
        .with_for_update()
    ).scalar()
    if entry is None:
        db.session.rollback()
        raise NotFound("no such dead letter", {"id": dead_letter_id})
    if entry.resolved_at is not None:
        db.session.rollback()
        raise Conflict(f"dead letter already {entry.resolution}", {"id": dead_letter_id})
    return entry


def requeue(service_id: int, dead_letter_id: int, actor: str):
    """Send the message again; reopens its broadcast if it had completed. Returns the broadcast id."""
    entry = _open_entry(service_id, dead_letter_id)
    broadcast = db.session.get(Broadcast, entry.broadcast_id) if entry.broadcast_id else None
    if broadcast is not None and broadcast.status == "cancelled":
        db.session.rollback()
        raise Conflict("the broadcast was cancelled; its messages cannot be requeued", {"id": dead_letter_id})
    if not message_state.requeue_failed(entry.message_id):
        db.session.rollback()
        raise Conflict("the message is no longer failed", {"id": dead_letter_id})
    db.session.execute(_RESOLVE, {"id": dead_letter_id, "resolution": "requeued", "actor": actor})
    broadcast_id = entry.broadcast_id
    reopen = broadcast is not None and broadcast.status == "completed"
    if broadcast is not None:
        broadcast_state.record_audit(service_id, broadcast_id, actor, "requeue_dead_letter",
                                     reason=f"dead letter {dead_letter_id}", details={"message_id": entry.message_id})
    db.session.commit()
    if reopen:
        broadcast_state.apply(broadcast_id, "reopen", actor, reason=f"dead letter {dead_letter_id} requeued",
                              strict=False)
    elif broadcast is not None:
        guard.publish(broadcast_id, broadcast.status, broadcast.status_version)
    return broadcast_id


def discard(service_id: int, dead_letter_id: int, actor: str) -> None:
    """Close a dead letter without sending; the message stays failed."""
    entry = _open_entry(service_id, dead_letter_id)
    db.session.execute(_RESOLVE, {"id": dead_letter_id, "resolution": "discarded", "actor": actor})
    if entry.broadcast_id:
        broadcast_state.record_audit(service_id, entry.broadcast_id, actor, "discard_dead_letter",
                                     reason=f"dead letter {dead_letter_id}", details={"message_id": entry.message_id})
    db.session.commit()
