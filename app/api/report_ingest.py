"""A lean WSGI path for the commonest callback: one delivery report per form POST (Africa's Talking).

A gateway that posts each report on its own makes Flask's per-request work (request context,
routing, form parsing, response building) the cost of ingesting a broadcast's reports. This
layer sits in front of the Flask app and takes such a request straight through the same steps
the webhook view takes (the account's provider verifies and parses, the text is checked, the
report goes through the process's group committer), answering 200 only once it is committed.
Anything else, and every request that would not be answered 200, is handed to Flask untouched,
so every refusal (404, 403, 400, 413, 503) keeps one author: `app.api.webhooks`.
"""
from __future__ import annotations

import io
from urllib.parse import parse_qsl

from werkzeug.wsgi import get_current_url

from app.api import webhooks
from app.errors import ApiError
from app.services.control.gateways import find_gateway
from app.services.content.storable_text import flaw
from providers.base import DeliveryReport, WebhookRequest

_PREFIX = "/webhooks/"
_FORM = "application/x-www-form-urlencoded"
ANSWERS = {True: b'{"stored":true}\n', False: b'{"stored":false}\n'}


class ReportIngest:
    """WSGI middleware: single form-encoded reports answered here, everything else by Flask."""

    def __init__(self, flask_app, wsgi_app) -> None:
        """Wrap `wsgi_app` (the Flask app's own), using `flask_app` for its config and context."""
        self.flask_app = flask_app
        self.wsgi_app = wsgi_app
        self.limit = flask_app.config["HERALD_WEBHOOK_MAX_BYTES"]

    def __call__(self, environ, start_response):
        """Answer a plain single report here; pass anything else (with its body intact) to Flask."""
        target = report_target(environ, self.limit)
        if target is None:
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        with self.flask_app.app_context():
            report = prepare_report(environ, body, *target)
            stored = None
            if report is not None:
                try:
                    stored = webhooks.store_reports(target[0], [report])
                except ApiError:
                    stored = None
        if stored is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.wsgi_app(environ, start_response)
        answer = ANSWERS[stored]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]


def report_target(environ, limit: int) -> tuple[str, str | None] | None:
    """(account, path secret) of a form POST to a report URL within the size limit; else None."""
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(_PREFIX):
        return None
    if not environ.get("CONTENT_TYPE", "").startswith(_FORM):
        return None
    length = environ.get("CONTENT_LENGTH", "")
    if not length.isdigit() or int(length) > limit:
        return None
    segments = path[len(_PREFIX):].split("/")
    if len(segments) > 2 or not all(segments) or segments[-1] == "inbound":
        return None  # inbound messages (/webhooks/<account>/inbound) are Flask's
    return segments[0], segments[1] if len(segments) == 2 else None


def prepare_report(environ, body: bytes, account: str, secret: str | None) -> DeliveryReport | None:
    """The one verified, parsed, storable report of this request; None to leave the request to Flask.

    Runs in an app context.
    """
    form = _first_values(body.decode("utf-8", "replace"))
    if form is None:
        return None
    provider = find_gateway(account)
    if provider is None:
        return None
    view = WebhookRequest(method="POST", url=get_current_url(environ), headers=_headers(environ), form=form,
                          body=body, path_secret=secret, query=_first_values(environ.get("QUERY_STRING", "")) or {})
    if not provider.verify(view):
        return None
    try:
        reports = provider.parse_reports(view)
        if len(reports) != 1:
            return None
        webhooks.refuse_unstorable(reports)
    except (ValueError, ApiError):
        return None
    return reports[0]


def _first_values(encoded: str) -> dict[str, str] | None:
    """A form's first value per name, as Flask reads it; None if any value cannot be stored."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(encoded, keep_blank_values=True):
        if flaw(name) or flaw(value):
            return None
        values.setdefault(name, value)
    return values


def _headers(environ) -> dict[str, str]:
    """The request's headers with lower-case names, as the webhook view gives them to providers."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers
