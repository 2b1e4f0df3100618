"""/v1/dead-letters: the operator's view of what could not be sent."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from app.api.auth import require_service
from app.api.params import BIGINT_MAX, broadcast_uuid, int_arg
from app.api.json_body import parse_json_object
from app.errors import ValidationFailed
from app.queueing import enqueue
from app.services.control import dead_letters

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
                                  broadcast_uuid(broadcast_id) if broadcast_id is not None else None)
    return jsonify({"dead_letters": [_entry(e) for e in rows],
                    "next_after": rows[-1].id if len(rows) == limit else None})


REASONS = ("permanent_error", "attempts_exhausted", "outcome_unknown")


def _options(allowed: tuple[str, ...]) -> dict:
    """The optional JSON object of a dead-letter action, checked field by field (400/422 naming the field)."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    body = parse_json_object(raw)
    for name in body:
        if name not in allowed:
            raise ValidationFailed(f"unknown field {name!r}", {"field": name})
    if "force" in body and not isinstance(body["force"], bool):
        raise ValidationFailed("force must be true or false", {"field": "force"})
    if "reason" in body and body["reason"] not in REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(REASONS)}", {"field": "reason"})
    if "broadcast_id" in body:
        if not isinstance(body["broadcast_id"], str):
            raise ValidationFailed("broadcast_id must be a string", {"field": "broadcast_id"})
        body["broadcast_id"] = broadcast_uuid(body["broadcast_id"])
    return body


def _tick(broadcast_ids) -> None:
    """Wake the producer of every broadcast that has work again."""
    for broadcast_id in broadcast_ids:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))


@bp.post("/requeue")
@require_service
def requeue_many():
    """Requeue every open dead letter matching {broadcast_id, reason}; outcome_unknown ones need force."""
    body = _options(("broadcast_id", "reason", "force"))
    result = dead_letters.requeue_many(g.service_id, g.actor, body.get("broadcast_id"), body.get("reason"),
                                       body.get("force", False))
    _tick(result["broadcast_ids"])
    return jsonify(result)


@bp.post("/discard")
@require_service
def discard_many():
    """Close every open dead letter matching {broadcast_id, reason}; their messages stay failed."""
    body = _options(("broadcast_id", "reason"))
    return jsonify(dead_letters.discard_many(g.service_id, g.actor, body.get("broadcast_id"), body.get("reason")))


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/requeue")
@require_service
def requeue(dead_letter_id: int):
    """Send the message again, with fresh attempts (force=true for an outcome_unknown one)."""
    body = _options(("force",))
    broadcast_id = dead_letters.requeue(g.service_id, dead_letter_id, g.actor, body.get("force", False))
    if broadcast_id is not None:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return jsonify({"id": dead_letter_id, "resolution": "requeued"})


@bp.post(f"/<int(max={BIGINT_MAX}):dead_letter_id>/discard")
@require_service
def discard(dead_letter_id: int):
    """Close the entry; the message stays failed. Its optional body is checked as requeue's is (force is moot)."""
    _options(("force",))
    dead_letters.discard(g.service_id, dead_letter_id, g.actor)
    return jsonify({"id": dead_letter_id, "resolution": "discarded"})
