"""/v1/messages: one transactional message on the fast lane."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, g, jsonify, request

from app.api import responses
from app.api.auth import require_service
from app.errors import MalformedRequest, ValidationFailed
from app.queueing import enqueue
from app.services import transactional

bp = Blueprint("messages", __name__, url_prefix="/v1/messages")


@bp.post("")
@require_service
def create():
    """Accept one message: 202 with its id and queue position."""
    cfg = current_app.config
    try:
        payload = json.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"body is not valid JSON: {exc}", {"field": "body"}) from None
    if not isinstance(payload, dict):
        raise MalformedRequest("body must be a JSON object", {"field": "body"})
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key.strip()) <= 255):
        raise ValidationFailed("Idempotency-Key must be 1-255 characters", {"field": "Idempotency-Key"})
    accepted = transactional.create_message(
        g.service_id, payload, provider=cfg["HERALD_SMS_PROVIDER"], region=cfg["HERALD_DEFAULT_REGION"],
        max_chars=cfg["HERALD_MAX_BODY_CHARS"], idempotency_key=key.strip() if key else None)
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)
    body = {**transactional.describe(accepted.message), "queue_position": accepted.queue_position}
    return responses.accepted(body, f"/v1/messages/{accepted.message.id}", accepted.created)


@bp.get("/<int:message_id>")
@require_service
def show(message_id: int):
    """One message's status and timestamps."""
    return jsonify(transactional.describe(transactional.get_owned(g.service_id, message_id)))
