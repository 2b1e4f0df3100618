"""/v1/messages: one transactional message on the fast lane."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, g, jsonify

from app.api import responses
from app.api.auth import require_service
from app.api.contract import JsonBody, accepts
from app.api.params import BIGINT_MAX, IDEMPOTENCY_KEY, MESSAGE_ID
from app.queueing import enqueue
from app.services.intake import templates_store, transactional

bp = Blueprint("messages", __name__, url_prefix="/v1/messages")


@bp.post("")
@require_service
@accepts(IDEMPOTENCY_KEY, body=JsonBody("MessageRequest"))
def create(idempotency_key: str | None, body: dict):
    """Accept one message: 202 with its id and queue position; 422 recipient_opted_out for a suppressed number."""
    cfg = current_app.config
    accepted = transactional.create_message(
        g.service_id, body, region=cfg["HERALD_DEFAULT_REGION"],
        max_chars=cfg["HERALD_MAX_BODY_CHARS"], idempotency_key=idempotency_key,
        resolve_template=partial(templates_store.resolve, g.service_id), actor=g.actor)
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)
    body = {**transactional.describe(accepted.message), "queue_position": accepted.queue_position}
    return responses.accepted(body, f"/v1/messages/{accepted.message.id}", accepted.created)


@bp.get(f"/<int(max={BIGINT_MAX}):message_id>")
@require_service
@accepts(MESSAGE_ID)
def show(message_id: int):
    """One message's status and timestamps."""
    return jsonify(transactional.describe(transactional.get_owned(g.service_id, message_id)))
