"""The sandbox as a plain WSGI callable: one route table, no framework on the hot path."""
from __future__ import annotations

from sandbox import account, config, control, infobip_dialect, messaging, twilio_dialect
from sandbox import responses as r
from sandbox.gateway import Gateway

# Built at import, which gunicorn does inside the single worker: state lives there.
gateway = Gateway(config.from_environment())

ROUTES = {
    ("POST", "/version1/messaging"): messaging.handle,
    ("POST", infobip_dialect.PATH): infobip_dialect.handle,
    ("GET", "/version1/user"): account.user_data,
    ("GET", "/_sandbox/config"): control.get_config,
    ("POST", "/_sandbox/config"): control.post_config,
    ("POST", "/_sandbox/reset"): control.post_reset,
    ("GET", "/_sandbox/ledger"): control.get_ledger,
    ("GET", "/_sandbox/events"): control.get_events,
    ("POST", "/_sandbox/smpp/mo"): control.post_mobile_originated,
    ("GET", "/_sandbox/smtp/messages"): control.get_smtp_messages,
    # SendGrid's own path for the Event Webhook's verification key.
    ("GET", "/v3/user/webhooks/event/settings/signed"): control.get_event_webhook_key,
}


# Send handlers and their latency-free halves, for servers that hold answers back with a timer.
SEND_ANSWERS = {messaging.handle: messaging.answer, twilio_dialect.handle: twilio_dialect.answer,
                infobip_dialect.handle: infobip_dialect.answer}


def route(method: str, path: str):
    """The handler of a request, or None; Twilio's path carries the account SID."""
    handler = ROUTES.get((method, path))
    if handler is None and method == "POST" and twilio_dialect.matches(path):
        return twilio_dialect.handle
    return handler


def app(environ: dict, start_response) -> list[bytes]:
    """Route a request to its handler; anything unknown is a JSON 404."""
    handler = route(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
    if handler is None:
        status, headers, body = r.error(404, "not found")
    else:
        status, headers, body = handler(environ, gateway)
    start_response(status, headers)
    return [body]


def shutdown() -> None:
    """Stop background report senders; called as the worker exits."""
    gateway.reports.stop()
