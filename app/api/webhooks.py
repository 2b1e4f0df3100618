"""Gateway callbacks: find the account, let its provider verify and parse, store durably, answer 200.

The view stays thin because a whole account's reports arrive here, often one request
each: a single report goes through the process's group committer (one INSERT and
COMMIT for every report waiting at that moment), a bulk callback is stored in one
statement, and only a committed report is answered 200. A report that could not be
stored is answered 503, so the gateway retries it.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app.errors import Forbidden, MalformedRequest, NotFound, PayloadTooLarge, Unavailable
from app.queueing import enqueue
from app.services import delivery_reports, optouts, routing, transactional
from app.services.gateways import find_gateway
from app.services.optouts import inbound_service
from app.services.report_committer import ReportCommitter, StoreFailed
from app.services.storable_text import check_text, flaw_path, refuse
from providers.base import DeliveryReport, WebhookRequest

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"


def _wake_applier(app) -> None:
    """Enqueue one apply run unless one is already queued (reports arriving meanwhile share it)."""
    if delivery_reports.claim_wake_up():
        enqueue(app, APPLY_TASK)


def report_committer() -> ReportCommitter:
    """This process's committer, made on first use."""
    app = current_app._get_current_object()
    committer = app.extensions.get("report_committer")
    if committer is None:
        committer = app.extensions.setdefault("report_committer", ReportCommitter(app, lambda: _wake_applier(app)))
    return committer


@bp.post("/<account>")
@bp.post("/<account>/<secret>")
def delivery_report(account: str, secret: str | None = None):
    """A delivery-report callback for one named account, verified the way its provider signs."""
    provider = find_gateway(account)
    if provider is None:
        raise NotFound("no such webhook")
    view = _request_view(secret)
    if not provider.verify(view):
        raise Forbidden("the callback's signature or secret does not match this account")
    try:
        reports = provider.parse_reports(view)
    except ValueError as exc:
        raise MalformedRequest(str(exc), {"field": "body"}) from None
    refuse_unstorable(reports)
    return jsonify({"stored": store_reports(account, reports)}), 200


def store_reports(account: str, reports: list[DeliveryReport]) -> bool:
    """Store reports durably (grouped with concurrent single ones); True if any was new."""
    if len(reports) != 1 or not current_app.config["HERALD_REPORT_GROUP_COMMIT"]:
        created = delivery_reports.store_reports(account, reports) > 0
        if created:
            _wake_applier(current_app._get_current_object())
        return created
    try:
        return report_committer().store(account, reports[0])
    except StoreFailed as exc:
        raise Unavailable(f"report not stored: {exc}") from None


def _request_view(secret: str | None) -> WebhookRequest:
    """The plain view of this request a provider sees; 413 when the body is over the limit."""
    limit = current_app.config["HERALD_WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a report body may be at most {limit} bytes", {"limit": limit})
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise PayloadTooLarge(f"a report body may be at most {limit} bytes", {"limit": limit})
    form = {name: check_text(name, value) for name, value in request.form.items()}
    return WebhookRequest(
        method=request.method, url=request.url, headers={k.lower(): v for k, v in request.headers.items()},
        form=form, body=body, path_secret=secret, query=request.args.to_dict(flat=True))


def refuse_unstorable(reports: list[DeliveryReport]) -> None:
    """400 when a parsed report holds text PostgreSQL cannot store (a NUL, a lone surrogate)."""
    for report in reports:
        found = flaw_path(dict(report.raw), "body") or flaw_path(report.provider_message_id, "id")
        if found:
            path, code, in_key = found
            raise refuse(path, code, in_key)


@bp.post("/<account>/<secret>/inbound")
def inbound(account: str, secret: str):
    """An inbound SMS (Africa's Talking: from, to, text, date, id, linkId): STOP and START act at once."""
    provider = find_gateway(account)
    if provider is None:
        raise NotFound("no such webhook")
    view = _request_view(secret)
    if not provider.verify(view):
        raise Forbidden("the callback's secret does not match this account")
    form = view.form
    sender, text = form.get("from", ""), form.get("text", "")
    if not sender:
        raise MalformedRequest("the inbound message has no 'from'", {"field": "from"})
    cfg = current_app.config
    service_id = inbound_service(cfg["HERALD_INBOUND_SERVICES"], form.get("to", ""))
    action = None
    if service_id is not None:
        action = optouts.apply_inbound(service_id, sender, text, optouts.Keywords.from_config(cfg),
                                       source=f"{account}:{form.get('id', '')}",
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
        service_id, {"to": sender, "body": body}, provider=routing.provider_for("sms"),
        region=cfg["HERALD_DEFAULT_REGION"], max_chars=cfg["HERALD_MAX_BODY_CHARS"],
        idempotency_key=f"{action}:{inbound_id}" if inbound_id else None)
    if accepted.created:
        enqueue(current_app, "tasks.sending.send_priority", accepted.message.id)
