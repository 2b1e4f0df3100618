"""Gateway callbacks: check the secret, store the report, wake the applier, answer 200."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from app.errors import MalformedRequest, NotFound
from app.queueing import enqueue
from app.redis_store import get_redis
from app.services import delivery_reports, optouts, transactional
from app.services.optouts import inbound_service
from app.services.gateways import gateway
from app.services.storable_text import check_text

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"
# Many reports per second share one applier run: wake it at most this often.
_WAKE_DEBOUNCE_MS = 200


def _wake_applier() -> None:
    """Enqueue one apply run unless one was enqueued in the last few hundred ms."""
    if get_redis().set("herald:wake:apply_reports", "1", nx=True, px=_WAKE_DEBOUNCE_MS):
        enqueue(current_app, APPLY_TASK)


def _verified_form(secret: str) -> dict:
    """The callback's form fields once the secret path segment matches; 404 otherwise."""
    expected = current_app.config["HERALD_WEBHOOK_SECRET"]
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise NotFound("no such webhook")
    return {name: check_text(name, value) for name, value in request.form.items()}


@bp.post("/africastalking/<secret>")
def africastalking(secret: str):
    """Africa's Talking delivery report (form-encoded, one per message)."""
    form = _verified_form(secret)
    try:
        report = gateway("africastalking").parse_delivery_report(form)
    except ValueError as exc:
        raise MalformedRequest(str(exc), {"field": "body"}) from None
    created = delivery_reports.store_reports("africastalking", [report])
    if created:
        _wake_applier()
    return jsonify({"stored": bool(created)}), 200


@bp.post("/africastalking/<secret>/inbound")
def africastalking_inbound(secret: str):
    """Africa's Talking inbound SMS (from, to, text, date, id, linkId): STOP and START keywords act at once."""
    form = _verified_form(secret)
    sender, text = form.get("from", ""), form.get("text", "")
    if not sender:
        raise MalformedRequest("Africa's Talking inbound message has no 'from'", {"field": "from"})
    cfg = current_app.config
    service_id = inbound_service(cfg["HERALD_INBOUND_SERVICES"], form.get("to", ""))
    action = None
    if service_id is not None:
        action = optouts.apply_inbound(service_id, sender, text, optouts.Keywords.from_config(cfg),
                                       source=f"africastalking:{form.get('id', '')}",
                                       region=cfg["HERALD_DEFAULT_REGION"])
    if action:
        _confirm(service_id, sender, action, form.get("id", ""))
    return jsonify({"action": action}), 200


def _confirm(service_id: int, sender: str, action: str, inbound_id: str) -> None:
    """Send the configured confirmation on the fast lane (off when its text is empty).

    The inbound message's id is the Idempotency-Key, so a callback posted twice confirms once.
    """
    cfg = current_app.config
    body = cfg["HERALD_OPTOUT_REPLY" if action == "opt_out" else "HERALD_OPTIN_REPLY"]
    if not body:
        return
    accepted = transactional.create_message(
        service_id, {"to": sender, "body": body}, provider=cfg["HERALD_SMS_PROVIDER"],
        region=cfg["HERALD_DEFAULT_REGION"], max_chars=cfg["HERALD_MAX_BODY_CHARS"],
        idempotency_key=f"{action}:{inbound_id}" if inbound_id else None)
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)
