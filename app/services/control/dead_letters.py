"""The dead-letter list: inspect, requeue or discard what could not be sent."""
from __future__ import annotations

from sqlalchemy import select, text

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import Broadcast, DeadLetter
from app.services.state import broadcast_state, guard, message_state
from app.statuses import BroadcastStatus

_RESOLVE = text("""
UPDATE dead_letters SET resolved_at = now(), resolution = :resolution, resolved_by = :actor
 WHERE id = :id AND resolved_at IS NULL
""")
_RESOLVE_MANY = text("""
UPDATE dead_letters SET resolved_at = now(), resolution = :resolution, resolved_by = :actor
 WHERE id = ANY(CAST(:ids AS bigint[])) AND resolved_at IS NULL
""")
_SELECT_OPEN = text("""
SELECT d.id, d.message_id, d.broadcast_id, d.reason, b.status AS broadcast_status
  FROM dead_letters d LEFT JOIN broadcasts b ON b.id = d.broadcast_id
 WHERE d.service_id = :sid AND d.resolved_at IS NULL
   AND (CAST(:bid AS uuid) IS NULL OR d.broadcast_id = CAST(:bid AS uuid))
   AND (CAST(:reason AS text) IS NULL OR d.reason = CAST(:reason AS text))
 ORDER BY d.id
   FOR UPDATE OF d
""")
UNKNOWN = "outcome_unknown"
# An erased person's dead letters: open ones close (nothing is sent to a tombstone), and a gateway's
# error text that quoted the address is dropped.
_QUOTES_ADDRESS = """EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n
                           WHERE strpos(lower(error_detail), n) > 0)"""
_CLOSE_ERASED = text(f"""
UPDATE dead_letters
   SET resolved_at = COALESCE(resolved_at, now()), resolution = COALESCE(resolution, 'contact_erased'),
       resolved_by = COALESCE(resolved_by, :actor),
       error_detail = CASE WHEN {_QUOTES_ADDRESS} THEN NULL ELSE error_detail END
 WHERE message_id = ANY(CAST(:ids AS bigint[])) AND (resolved_at IS NULL OR {_QUOTES_ADDRESS})
RETURNING id
""")


def _refuse_unforced(unknown: int) -> None:
    """Requeueing a message that may already be at the gateway is the operator's explicit call."""
    db.session.rollback()
    raise Conflict(f"{unknown} of these messages may already have reached the gateway (outcome unknown); "
                   "requeueing may send them twice: repeat with force=true to accept that",
                   {"field": "force", "outcome_unknown": unknown}, code="outcome_unknown_requires_force")


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


def requeue(service_id: int, dead_letter_id: int, actor: str, force: bool = False):
    """Send the message again; reopens its broadcast if it had completed. Returns the broadcast id."""
    entry = _open_entry(service_id, dead_letter_id)
    if entry.reason == UNKNOWN and not force:
        _refuse_unforced(1)
    broadcast = db.session.get(Broadcast, entry.broadcast_id) if entry.broadcast_id else None
    if broadcast is not None and broadcast.status == BroadcastStatus.CANCELLED:
        db.session.rollback()
        raise Conflict("the broadcast was cancelled; its messages cannot be requeued", {"id": dead_letter_id})
    if not message_state.requeue_failed(entry.message_id):
        db.session.rollback()
        raise Conflict("the message is no longer failed", {"id": dead_letter_id})
    db.session.execute(_RESOLVE, {"id": dead_letter_id, "resolution": "requeued", "actor": actor})
    broadcast_id = entry.broadcast_id
    reopen = broadcast is not None and broadcast.status == BroadcastStatus.COMPLETED
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


def requeue_many(service_id: int, actor: str, broadcast_id=None, reason: str | None = None,
                 force: bool = False) -> dict:
    """Requeue every open dead letter matching the filters; entries of cancelled broadcasts are left."""
    rows = db.session.execute(_SELECT_OPEN, {"sid": service_id, "bid": broadcast_id, "reason": reason}).all()
    unknown = sum(1 for row in rows if row.reason == UNKNOWN)
    if unknown and not force:
        _refuse_unforced(unknown)
    eligible = [row for row in rows if row.broadcast_status != BroadcastStatus.CANCELLED]
    moved = set(message_state.requeue_failed_many([row.message_id for row in eligible]))
    done = [row for row in eligible if row.message_id in moved]
    db.session.execute(_RESOLVE_MANY, {"ids": [row.id for row in done], "resolution": "requeued", "actor": actor})
    touched = _audit_bulk(service_id, actor, done, "requeue_dead_letters", reason, force)
    db.session.commit()
    for bid, status in touched.items():
        if status == BroadcastStatus.COMPLETED:
            broadcast_state.apply(bid, "reopen", actor, reason="dead letters requeued", strict=False)
    return {"requeued": len(done), "skipped": len(rows) - len(done), "broadcast_ids": [str(b) for b in touched]}


def discard_many(service_id: int, actor: str, broadcast_id=None, reason: str | None = None) -> dict:
    """Close every open dead letter matching the filters; their messages stay failed."""
    rows = db.session.execute(_SELECT_OPEN, {"sid": service_id, "bid": broadcast_id, "reason": reason}).all()
    db.session.execute(_RESOLVE_MANY, {"ids": [row.id for row in rows], "resolution": "discarded", "actor": actor})
    _audit_bulk(service_id, actor, rows, "discard_dead_letters", reason, False)
    db.session.commit()
    return {"discarded": len(rows)}


def _audit_bulk(service_id: int, actor: str, rows: list, action: str, reason: str | None, force: bool) -> dict:
    """One audit row per broadcast touched; returns each touched broadcast's status."""
    per_broadcast: dict = {}
    for row in rows:
        if row.broadcast_id is not None:
            per_broadcast.setdefault(row.broadcast_id, [row.broadcast_status, 0])[1] += 1
    for bid, (_status, count) in per_broadcast.items():
        broadcast_state.record_audit(service_id, bid, actor, action, reason=f"{count} dead letters",
                                     details={"count": count, "reason_filter": reason, "forced": force})
    return {bid: status for bid, (status, _count) in per_broadcast.items()}


def close_for_erasure(message_ids: list[int], addresses: list[str], actor: str) -> int:
    """Close the open dead letters of an erased person's messages, drop their address; how many changed. Caller commits."""
    if not message_ids:
        return 0
    needles = [address.lower().lstrip("+") for address in addresses]
    return len(db.session.execute(_CLOSE_ERASED, {"ids": message_ids, "needles": needles, "actor": actor}).all())
