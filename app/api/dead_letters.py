"""/v1/dead-letters: the operator's view of what could not be sent."""
from __future__ import annotations

import uuid

from flask import Blueprint, current_app, g, jsonify

from app.api.auth import require_service
from app.api.contract import JsonBody, Param, accepts
from app.api.params import AFTER, BIGINT_MAX, DEAD_LETTER_ID, page_size
from app.api.schema_text import UUID
from app.queueing import enqueue
from app.services.control import dead_letters

bp = Blueprint("dead_letters", __name__, url_prefix="/v1/dead-letters")
# A filter that is not a UUID names no broadcast.
BROADCAST_FILTER = Param("broadcast_id", "query", UUID, "Only this broadcast's entries (404 if it is not a UUID).",
                         missing="broadcast", convert=uuid.UUID)
FORCE_BODY = JsonBody("ForceRequest", required=False)


def _entry(e) -> dict:
    """One dead letter as JSON."""
    return {"id": e.id, "message_id": e.message_id, "broadcast_id": str(e.broadcast_id) if e.broadcast_id else None,
            "recipient": e.message.recipient, "carrier": e.message.carrier, "reason": e.reason,
            "error_code": e.error_code, "error_detail": e.error_detail, "attempts": e.attempts,
            "created_at": e.created_at.isoformat()}


@bp.get("")
@require_service
@accepts(AFTER, page_size(100, 1000), BROADCAST_FILTER)
def list_open(after: int, limit: int, broadcast_id: uuid.UUID | None):
    """Open dead letters, oldest first: ?after=<last id>&limit=&broadcast_id=."""
    rows = dead_letters.list_open(g.service_id, after, limit, broadcast_id)
    return jsonify({"dead_letters": [_entry(e) for e in rows],
                    "next_after": rows[-1].id if len(rows) == limit else None})


def _tick(broadcast_ids) -> None:
    """Wake the producer of every broadcast that has work again."""
    for broadcast_id in broadcast_ids:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))


@bp.post("/requeue")
@require_service
@accepts(body=JsonBody("RequeueFilter", required=False))
def requeue_many(body: dict | None):
    """Requeue every open dead letter matching {broadcast_id, reason}; outcome_unknown ones need force."""
    body = body or {}
    result = dead_letters.requeue_many(g.service_id, g.actor, _broadcast(body), body.get("reason"),
                                       body.get("force", False))
    _tick(result["broadcast_ids"])
    return jsonify(result)


@bp.post("/discard")
@require_service
@accepts(body=JsonBody("DeadLetterFilter", required=False))
def discard_many(body: dict | None):
    """Close every open dead letter matching {broadcast_id, reason}; their messages stay failed."""
    body = body or {}
    return jsonify(dead_letters.discard_many(g.service_id, g.actor, _broadcast(body), body.get("reason")))


def _broadcast(body: dict) -> uuid.UUID | None:
    """The filter's broadcast id, if it has one."""
    return uuid.UUID(body["broadcast_id"]) if "broadcast_id" in body else None


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/requeue")
@require_service
@accepts(DEAD_LETTER_ID, body=FORCE_BODY)
def requeue(dead_letter_id: int, body: dict | None):
    """Send the message again, with fresh attempts (force=true for an outcome_unknown one)."""
    broadcast_id = dead_letters.requeue(g.service_id, dead_letter_id, g.actor, (body or {}).get("force", False))
    if broadcast_id is not None:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return jsonify({"id": dead_letter_id, "resolution": "requeued"})


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/discard")
@require_service
@accepts(DEAD_LETTER_ID, body=FORCE_BODY)
def discard(dead_letter_id: int, body: dict | None):
    """Close the entry; the message stays failed. Its optional body is checked as requeue's is (force is moot)."""
    dead_letters.discard(g.service_id, dead_letter_id, g.actor)
    return jsonify({"id": dead_letter_id, "resolution": "discarded"})
