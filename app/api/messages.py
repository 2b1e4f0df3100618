"""/v1/messages: one transactional message on the fast lane."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, g, jsonify, request

from app.api import responses
from app.api.auth import require_service
from app.api.json_body import parse_json_object
from app.api.params import BIGINT_MAX
from app.queueing import enqueue
from app.services.intake import templates_store, transactional
from app.services.intake.idempotency import parse_key

bp = Blueprint("messages", __name__, url_prefix="/v1/messages")


@bp.post("")
@require_service
def create():
    """Accept one message: 202 with its id and queue position; 422 recipient_opted_out for a suppressed number."""
    cfg = current_app.config
    payload = parse_json_object(request.get_data(cache=False))
    accepted = transactional.create_message(
        g.service_id, payload, region=cfg["HERALD_DEFAULT_REGION"],
        max_chars=cfg["HERALD_MAX_BODY_CHARS"], idempotency_key=parse_key(request.headers.get("Idempotency-Key")),
        resolve_template=partial(templates_store.resolve, g.service_id), actor=g.actor)
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)
    body = {**transactional.describe(accepted.message), "queue_position": accepted.queue_position}
    return responses.accepted(body, f"/v1/messages/{accepted.message.id}", accepted.created)


@bp.get(f"/<int(max={BIGINT_MAX}):message_id>")
@require_service
def show(message_id: int):
    """One message's status and timestamps."""
    return jsonify(transactional.describe(transactional.get_owned(g.service_id, message_id)))
