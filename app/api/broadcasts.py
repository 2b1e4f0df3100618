"""/v1/broadcasts: create, read, list messages, and the lifecycle verbs."""
from __future__ import annotations

import uuid
from functools import partial

from flask import Blueprint, Response, current_app, g, jsonify, stream_with_context
from sqlalchemy import select

from app.api import responses
from app.api.auth import require_service
from app.api.contract import JsonBody, accepts
from app.api.params import AFTER, BROADCAST_ID, IDEMPOTENCY_KEY, MESSAGE_STATUS, page_size
from app.api.uploads import BroadcastBody, BroadcastInput
from app.extensions import db
from app.models import AuditEntry, Broadcast
from app.queueing import enqueue
from app.services.content import csv_cells
from app.services.control import lifecycle
from app.services.intake import preview, segments_audience, templates_store
from app.services.intake import intake
from app.services.reports import reporting
from app.services.channels import routes
from app.services.intake.broadcast_request import parse_lifecycle, parse_spec
from app.services.intake.recipient_list import RecipientList
from app.statuses import BroadcastStatus

bp = Blueprint("broadcasts", __name__, url_prefix="/v1/broadcasts")
TICK_TASK = "tasks.fanout.broadcast_tick"


def wake(broadcast_id) -> None:
    """Ask the producer to look at a broadcast now (after the commit that made work)."""
    enqueue(current_app, TICK_TASK, str(broadcast_id))


@bp.post("")
@require_service
@accepts(IDEMPOTENCY_KEY, body=BroadcastBody())
def create(idempotency_key: str | None, body: BroadcastInput):
    """Accept a broadcast: 202 with its id and recipient counts (200 with an estimate for a dry run)."""
    cfg = current_app.config
    payload, items, fingerprint, key = body.payload, body.items, body.fingerprint, idempotency_key
    spec = parse_spec(payload, cfg["HERALD_MAX_BODY_CHARS"], partial(templates_store.resolve, g.service_id))
    if items is None:
        audience = segments_audience.parse_audience(g.service_id, payload)
    else:
        audience = RecipientList(items, cfg["HERALD_DEFAULT_REGION"])
    if spec.dry_run:
        return jsonify(_estimate(spec, audience))
    result = intake.create_broadcast(
        g.service_id, spec, audience, provider=routes.provider_for(spec.channel), actor=g.actor,
        idempotency_key=key, fingerprint=fingerprint, max_chars=cfg["HERALD_MAX_BODY_CHARS"])
    if result.created and result.broadcast.status == BroadcastStatus.RUNNING:
        wake(result.broadcast.id)
    answer = reporting.describe(result.broadcast)
    if items is None:
        # Contacts become rows later, a page per producer tick: the count is the audience's at POST.
        answer["audience"] = result.broadcast.recipient_count
    return responses.accepted(answer, f"/v1/broadcasts/{result.broadcast.id}", result.created)


def _estimate(spec, audience) -> dict:
    """The dry run's answer for an audience: nothing is written."""
    cfg = current_app.config
    prices = routes.estimate_prices(spec.channel, preview.parse_prices(cfg["HERALD_SMS_PRICES"]))
    answer = preview.estimate(spec, audience, g.service_id, cfg["HERALD_MAX_BODY_CHARS"], prices,
                              cfg["HERALD_SMS_CURRENCY"])
    db.session.rollback()
    return answer


@bp.get("")
@require_service
@accepts(page_size(50, 500))
def list_broadcasts(limit: int):
    """This service's broadcasts, newest first, without per-message counts."""
    rows = db.session.execute(select(Broadcast).where(Broadcast.service_id == g.service_id)
                              .order_by(Broadcast.created_at.desc()).limit(limit)).scalars()
    return jsonify({"broadcasts": [reporting.describe(b) for b in rows]})


@bp.get("/<broadcast_id>")
@require_service
@accepts(BROADCAST_ID)
def show(broadcast_id: uuid.UUID):
    """Status, counts per status and carrier, cost, send rate and ETA."""
    broadcast = reporting.get_owned(g.service_id, broadcast_id)
    return jsonify(reporting.summary(broadcast))


@bp.get("/<broadcast_id>/messages")
@require_service
@accepts(BROADCAST_ID, MESSAGE_STATUS, AFTER, page_size(100, 1000))
def messages(broadcast_id: uuid.UUID, status: str | None, after: int, limit: int):
    """A keyset page of messages: ?status=&after=<last id>&limit=."""
    broadcast = reporting.get_owned(g.service_id, broadcast_id)
    page = reporting.message_page(broadcast.id, status, after, limit)
    return jsonify({"messages": page, "next_after": page[-1]["id"] if len(page) == limit else None})


@bp.get("/<broadcast_id>/report.csv")
@require_service
@accepts(BROADCAST_ID)
def report_csv(broadcast_id: uuid.UUID):
    """The audit export: one line per recipient, streamed so a million rows never sit in memory."""
    broadcast = reporting.get_owned(g.service_id, broadcast_id)
    rows = csv_cells.stream(reporting.MESSAGE_FIELDS, reporting.export_rows(broadcast.id))
    filename = f"broadcast-{broadcast.id}.csv"
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/<broadcast_id>/audit")
@require_service
@accepts(BROADCAST_ID)
def audit(broadcast_id: uuid.UUID):
    """Every transition and operator action on this broadcast, in order."""
    broadcast = reporting.get_owned(g.service_id, broadcast_id)
    rows = db.session.execute(select(AuditEntry).where(AuditEntry.broadcast_id == broadcast.id)
                              .order_by(AuditEntry.id)).scalars()
    return jsonify({"audit": [{
        "at": e.created_at.isoformat(), "actor": e.actor, "action": e.action, "from_status": e.from_status,
        "to_status": e.to_status, "reason": e.reason, "details": e.details,
    } for e in rows]})


# An empty body carries no reason; a body must be a JSON LifecycleRequest.
LIFECYCLE_BODY = JsonBody("LifecycleRequest", required=False)


def _lifecycle(broadcast_id: uuid.UUID, action: str, body: dict | None):
    """Apply an operator's lifecycle verb and answer with the broadcast."""
    lifecycle.operator_move(broadcast_id, action, g.actor, g.service_id, parse_lifecycle(body))
    if action == "resume":
        wake(broadcast_id)
    return jsonify(reporting.describe(reporting.get_owned(g.service_id, broadcast_id)))


@bp.post("/<broadcast_id>/pause")
@require_service
@accepts(BROADCAST_ID, body=LIFECYCLE_BODY)
def pause(broadcast_id: uuid.UUID, body: dict | None):
    """Stop sending; claimed-but-unsent rows go back to pending."""
    return _lifecycle(broadcast_id, "pause", body)


@bp.post("/<broadcast_id>/resume")
@require_service
@accepts(BROADCAST_ID, body=LIFECYCLE_BODY)
def resume(broadcast_id: uuid.UUID, body: dict | None):
    """Carry on from where the broadcast stopped."""
    return _lifecycle(broadcast_id, "resume", body)


@bp.post("/<broadcast_id>/cancel")
@require_service
@accepts(BROADCAST_ID, body=LIFECYCLE_BODY)
def cancel(broadcast_id: uuid.UUID, body: dict | None):
    """Stop for good; unsent rows become cancelled."""
    return _lifecycle(broadcast_id, "cancel", body)
