"""Gateway callbacks: find the account, let its provider verify and parse, store durably, answer 200.

The view stays thin because a whole account's reports arrive here, often one request
each: a single report goes through the process's group committer (one INSERT and
COMMIT for every report waiting at that moment), a bulk callback is stored in one
statement, and only a committed report is answered 200. A report that could not be
stored is answered 503, so the gateway retries it.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app.api.contract import accepts, ref
from app.api.params import ACCOUNT, WEBHOOK_SECRET
from app.api.schema_text import ANY_JSON, text
from app.errors import Forbidden, MalformedRequest, NotFound, PayloadTooLarge, Unavailable
from app.queueing import enqueue
from app.services.reports import delivery_reports, inbound
from app.services.control.gateways import find_gateway
from app.services.reports.report_committer import ReportCommitter, StoreFailed
from app.services.content.storable_text import check_text, flaw_path, refuse
from providers.base import DeliveryReport, WebhookRequest

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"
# Each gateway's own format, verified and parsed by its provider (unreadable: 400); documented, not checked here.
# Africa's Talking and Twilio post forms, Infobip posts JSON {"results": [...]}.
# Text in them is storable like any other (a NUL is 400 naming the field).
GATEWAY_JSON = {"type": "object", "propertyNames": text(), "additionalProperties": ANY_JSON}
REPORT_BODY = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": ref("DeliveryReport")},
                                             "application/json": {"schema": GATEWAY_JSON}}}
INBOUND_BODY = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": ref("InboundMessage")},
                                              "application/json": {"schema": GATEWAY_JSON}}}


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
@accepts(ACCOUNT, WEBHOOK_SECRET, described=REPORT_BODY)
def delivery_report(account: str, secret: str | None = None):
    """A delivery-report callback for one named account, verified the way its provider signs."""
    _provider, reports = _verified_and_parsed(account, secret, inbound=False)
    refuse_unstorable(reports)
    return jsonify({"stored": store_reports(account, reports)}), 200


def _verified_and_parsed(account: str, secret: str | None, inbound: bool):
    """(provider, what the callback carries): 404 for no such account, 403 unverified, 400 unreadable."""
    provider = find_gateway(account)
    if provider is None:
        raise NotFound("no such webhook")
    view = _request_view(secret)
    if not (provider.verify_inbound(view) if inbound else provider.verify(view)):
        raise Forbidden("the callback's signature or secret does not match this account")
    try:
        return provider, provider.parse_inbound(view) if inbound else provider.parse_reports(view)
    except ValueError as exc:
        raise MalformedRequest(str(exc), {"field": "body"}) from None


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
    form = {check_text(f"{name} (a field name)", name): check_text(name, value)
            for name, value in request.form.items()}
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


@bp.post("/<account>/inbound")
@bp.post("/<account>/<secret>/inbound")
@accepts(ACCOUNT, WEBHOOK_SECRET, described=INBOUND_BODY)
def inbound_messages(account: str, secret: str | None = None):
    """Messages people sent to an account's numbers (STOP and START act at once), verified as the gateway signs.

    Africa's Talking and Infobip carry the account's secret in the URL; Twilio signs the request.
    An unmapped number or a text without a keyword is answered 200 and changes nothing.
    """
    provider, messages = _verified_and_parsed(account, secret, inbound=True)
    for message in messages:
        found = flaw_path({"from": message.sender, "to": message.to, "text": message.text,
                           "id": message.inbound_id or ""}, "body")
        if found:
            raise refuse(*found)
    results = inbound.receive(account, provider.channel, messages)
    answer = provider.inbound_answer()
    if answer is not None:
        return current_app.response_class(answer[0], status=200, content_type=answer[1])
    return jsonify({**results[0], "messages": results}), 200
