"""/v1/dead-letters: the operator's view of what could not be sent."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from app.api.auth import require_service
from app.api.params import BIGINT_MAX, broadcast_uuid, int_arg
from app.queueing import enqueue
from app.services import dead_letters

bp = Blueprint("dead_letters", __name__, url_prefix="/v1/dead-letters")


def _entry(e) -> dict:
    """One dead letter as JSON."""
    return {"id": e.id, "message_id": e.message_id, "broadcast_id": str(e.broadcast_id) if e.broadcast_id else None,
            "recipient": e.message.recipient, "carrier": e.message.carrier, "reason": e.reason,
            "error_code": e.error_code, "error_detail": e.error_detail, "attempts": e.attempts,
            "created_at": e.created_at.isoformat()}


@bp.get("")
@require_service
def list_open():
    """Open dead letters, oldest first: ?after=<last id>&limit=&broadcast_id=."""
    limit = int_arg("limit", 100, 1, 1000)
    broadcast_id = request.args.get("broadcast_id")
    rows = dead_letters.list_open(g.service_id, int_arg("after", 0, 0, 2**63 - 1), limit,
                                  broadcast_uuid(broadcast_id) if broadcast_id else None)
    return jsonify({"dead_letters": [_entry(e) for e in rows],
                    "next_after": rows[-1].id if len(rows) == limit else None})


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/requeue")
@require_service
def requeue(dead_letter_id: int):
    """Send the message again, with fresh attempts."""
    broadcast_id = dead_letters.requeue(g.service_id, dead_letter_id, g.actor)
    if broadcast_id is not None:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return jsonify({"id": dead_letter_id, "resolution": "requeued"})


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/discard")
@require_service
def discard(dead_letter_id: int):
    """Close the entry; the message stays failed."""
    dead_letters.discard(g.service_id, dead_letter_id, g.actor)
    return jsonify({"id": dead_letter_id, "resolution": "discarded"})
