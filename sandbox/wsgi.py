"""The sandbox as a plain WSGI callable: one route table, no framework on the hot path."""
from __future__ import annotations

from sandbox import account, config, control, messaging
from sandbox import responses as r
from sandbox.gateway import Gateway

# Built at import, which gunicorn does inside the single worker: state lives there.
gateway = Gateway(config.from_environment())

ROUTES = {
    ("POST", "/version1/messaging"): messaging.handle,
    ("GET", "/version1/user"): account.user_data,
    ("GET", "/_sandbox/config"): control.get_config,
    ("POST", "/_sandbox/config"): control.post_config,
    ("POST", "/_sandbox/reset"): control.post_reset,
    ("GET", "/_sandbox/ledger"): control.get_ledger,
    ("GET", "/_sandbox/events"): control.get_events,
}


def app(environ: dict, start_response) -> list[bytes]:
    """Route a request to its handler; anything unknown is a JSON 404."""
    handler = ROUTES.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
    if handler is None:
        status, headers, body = r.error(404, "not found")
    else:
        status, headers, body = handler(environ, gateway)
    start_response(status, headers)
    return [body]


def shutdown() -> None:
    """Stop background report senders; called as the worker exits."""
    gateway.reports.stop()
