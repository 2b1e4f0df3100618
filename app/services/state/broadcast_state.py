"""Broadcast lifecycle: each transition is one guarded UPDATE plus its audit row.

This module is the only writer of `broadcasts.status`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import AuditEntry, Broadcast
from app.services.state import guard, message_state
from app.statuses import BroadcastStatus, PausedReason, sql_list, sql_literal


@dataclass(frozen=True)
class Transition:
    """An allowed move: from which statuses (and, if given, which pause reasons), to which one."""

    allowed_from: frozenset[BroadcastStatus]
    to: BroadcastStatus
    reasons: frozenset[PausedReason] | None = None


TRANSITIONS = {
    "start": Transition(frozenset({BroadcastStatus.SCHEDULED}), BroadcastStatus.RUNNING),
    "pause": Transition(frozenset({BroadcastStatus.RUNNING}), BroadcastStatus.PAUSED),
    # An operator takes over a pause the system made (quota, gateway), so it does not resume by itself.
    "hold": Transition(frozenset({BroadcastStatus.PAUSED}), BroadcastStatus.PAUSED,
                       frozenset({PausedReason.QUOTA, PausedReason.GATEWAY_DOWN, PausedReason.GATEWAY_REJECTED})),
    "resume": Transition(frozenset({BroadcastStatus.PAUSED}), BroadcastStatus.RUNNING),
    "cancel": Transition(frozenset({BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING, BroadcastStatus.PAUSED}),
                         BroadcastStatus.CANCELLED),
    "complete": Transition(frozenset({BroadcastStatus.RUNNING}), BroadcastStatus.COMPLETED),
    # A requeued dead letter gives a completed broadcast work again.
    "reopen": Transition(frozenset({BroadcastStatus.COMPLETED}), BroadcastStatus.RUNNING),
}

_MOVE = text(f"""
UPDATE broadcasts b
   SET status = :to, paused_reason = :paused_reason, status_version = b.status_version + 1, updated_at = now(),
       started_at = COALESCE(b.started_at, CASE WHEN :to = {sql_literal(BroadcastStatus.RUNNING)} THEN now() END),
       finished_at = CASE WHEN :to IN {sql_list(BroadcastStatus.COMPLETED, BroadcastStatus.CANCELLED)}
                          THEN now() END
  FROM (SELECT id, status, paused_reason FROM broadcasts WHERE id = :bid FOR UPDATE) old
 WHERE b.id = old.id AND old.status = ANY(:allowed) AND (:service_id IS NULL OR b.service_id = :service_id)
   AND (CAST(:reasons AS text[]) IS NULL OR old.paused_reason = ANY(CAST(:reasons AS text[])))
RETURNING old.status, b.service_id, b.status_version
""")


def record_audit(service_id: int | None, broadcast_id, actor: str, action: str, from_status=None,
                 to_status=None, reason=None, details=None) -> None:
    """Add one audit row to the current transaction."""
    db.session.add(AuditEntry(service_id=service_id, broadcast_id=broadcast_id, actor=actor, action=action,
                              from_status=from_status, to_status=to_status, reason=reason, details=details or {}))


def _refuse(broadcast_id, action: str, service_id: int | None) -> None:
    """Explain why a transition did not apply: 404 if unseen, else 409 with the status."""
    broadcast = db.session.get(Broadcast, broadcast_id)
    db.session.rollback()
    if broadcast is None or (service_id is not None and broadcast.service_id != service_id):
        raise NotFound("no such broadcast", {"id": str(broadcast_id)})
    raise Conflict(f"cannot {action} a broadcast that is {broadcast.status}",
                   {"id": str(broadcast_id), "status": broadcast.status, "action": action})


def apply(broadcast_id, action: str, actor: str, reason: str | None = None,
          service_id: int | None = None, paused_reason: str | None = None, strict: bool = True,
          from_reason: str | None = None) -> bool:
    """Move a broadcast if its status allows, audit it, mirror the guard; commit.

    With strict=False a refused move returns False instead of raising (for the system's own moves);
    `from_reason` moves a paused broadcast only if it was paused for that reason (the system's resumes).
    """
    move = TRANSITIONS[action]
    reasons = [from_reason] if from_reason else (sorted(move.reasons) if move.reasons else None)
    row = db.session.execute(_MOVE, {
        "to": move.to, "bid": broadcast_id, "reasons": reasons, "allowed": list(move.allowed_from),
        "service_id": service_id, "paused_reason": paused_reason if move.to == BroadcastStatus.PAUSED else None,
    }).first()
    if row is None:
        if strict:
            _refuse(broadcast_id, action, service_id)
        db.session.rollback()
        return False
    from_status, owner, version = row
    if move.to == BroadcastStatus.CANCELLED:
        message_state.cancel_pending(broadcast_id)
    record_audit(owner, broadcast_id, actor, action, from_status, move.to, reason or paused_reason)
    db.session.commit()
    guard.publish(broadcast_id, move.to, version)
    return True
