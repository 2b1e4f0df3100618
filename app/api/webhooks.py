"""Gateway callbacks: check the secret, parse the report, store it durably, answer 200.

The view stays thin because the whole account's reports arrive here, one request
each: storing goes through the process's group committer (one INSERT and COMMIT
for every report waiting at that moment), and only a committed report is answered
200. A report that could not be stored is answered 503, so the gateway retries it.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from app.errors import MalformedRequest, NotFound, Unavailable
from app.queueing import enqueue
from app.services import delivery_reports
from app.services.gateways import gateway
from app.services.storable_text import check_text
from app.services.report_committer import ReportCommitter, StoreFailed

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"


def _wake_applier(app) -> None:
    """Enqueue one apply run unless one is already queued (reports arriving meanwhile share it)."""
    if delivery_reports.claim_wake_up():
        enqueue(app, APPLY_TASK)


def _committer() -> ReportCommitter:
    """This process's committer, made on first use."""
    app = current_app._get_current_object()
    committer = app.extensions.get("report_committer")
    if committer is None:
        committer = app.extensions.setdefault("report_committer", ReportCommitter(app, lambda: _wake_applier(app)))
    return committer


@bp.post("/africastalking/<secret>")
def africastalking(secret: str):
    """Africa's Talking delivery report (form-encoded, one per message)."""
    expected = current_app.config["HERALD_WEBHOOK_SECRET"]
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise NotFound("no such webhook")
    form = {name: check_text(name, value) for name, value in request.form.items()}
    try:
        report = gateway("africastalking").parse_delivery_report(form)
    except ValueError as exc:
        raise MalformedRequest(str(exc), {"field": "body"}) from None
    return jsonify({"stored": _store("africastalking", report)}), 200


def _store(provider: str, report) -> bool:
    """Store one report durably, grouped with concurrent ones unless group commit is off; True if new."""
    if not current_app.config["HERALD_REPORT_GROUP_COMMIT"]:
        created = delivery_reports.store_reports(provider, [report]) == 1
        if created:
            _wake_applier(current_app)
        return created
    try:
        return _committer().store(provider, report)
    except StoreFailed as exc:
        raise Unavailable(f"report not stored: {exc}") from None
