"""Gateway callbacks: find the account, let its provider verify and parse, store, wake the applier, answer 200."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app.errors import Forbidden, MalformedRequest, NotFound, PayloadTooLarge
from app.queueing import enqueue
from app.redis_store import get_redis
from app.services import delivery_reports
from app.services.gateways import find_gateway
from app.services.storable_text import check_text, nul_path, refuse_nul
from providers.base import DeliveryReport, WebhookRequest

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"
# Many reports per second share one applier run: wake it at most this often.
_WAKE_DEBOUNCE_MS = 200


def _wake_applier() -> None:
    """Enqueue one apply run unless one was enqueued in the last few hundred ms."""
    if get_redis().set("herald:wake:apply_reports", "1", nx=True, px=_WAKE_DEBOUNCE_MS):
        enqueue(current_app, APPLY_TASK)


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
    _refuse_nul(reports)
    created = delivery_reports.store_reports(account, reports)
    if created:
        _wake_applier()
    return jsonify({"stored": bool(created)}), 200


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


def _refuse_nul(reports: list[DeliveryReport]) -> None:
    """400 when a parsed report holds a NUL, which PostgreSQL text and jsonb cannot store."""
    for report in reports:
        found = nul_path(dict(report.raw), "body") or nul_path(report.provider_message_id, "id")
        if found:
            raise refuse_nul(found[0])
