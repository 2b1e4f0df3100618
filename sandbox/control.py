"""The /_sandbox/* endpoints tests use to steer the sandbox and read what it recorded."""
from __future__ import annotations

import time

from sandbox import config
from sandbox import responses as r
from sandbox.events import OUTCOMES
from sandbox.gateway import Gateway

DEFAULT_EVENT_LIMIT = 10_000
MAX_EVENT_LIMIT = 100_000


def get_config(environ: dict, gateway: Gateway) -> r.Response:
    """The whole current configuration (the API key left out)."""
    return r.json_response(200, gateway.settings.public())


def post_config(environ: dict, gateway: Gateway) -> r.Response:
    """Change some runtime settings at once, or none if any change is invalid."""
    try:
        checked = config.validate_changes(r.read_json(environ))
    except config.ConfigError as exc:
        return r.error(400, str(exc))
    except (ValueError, r.BodyTooLarge):
        return r.error(400, "body must be a JSON object")
    down_for_s = checked.pop(config.OUTAGE_FIELD, None)
    if down_for_s is not None and gateway.outage is None:
        return r.error(400, f"{config.OUTAGE_FIELD} needs the asyncio server (the default)")
    refuse_auth_s = checked.pop(config.REFUSE_AUTH_FIELD, None)
    config.apply_changes(gateway.settings, checked)
    if refuse_auth_s is not None:
        gateway.settings.auth_refused_until = time.time() + refuse_auth_s
    if "rate_limit_per_s" in checked:
        gateway.bucket.set_rate(gateway.settings.rate_limit_per_s)
    if "smpp_throttle_per_s" in checked and gateway.smpp is not None:
        gateway.smpp.bucket.set_rate(gateway.settings.smpp_throttle_per_s)
    if "smpp_bindfail_s" in checked and gateway.smpp is not None:
        gateway.smpp.fail_binds_for(gateway.settings.smpp_bindfail_s)
    if down_for_s is not None:
        # Starts once this answer is on its way: the control API shares the port going down.
        gateway.outage(down_for_s)
    return r.json_response(200, gateway.settings.public())


def post_reset(environ: dict, gateway: Gateway) -> r.Response:
    """Clear ledger, dedup store, events and pending reports."""
    gateway.reset()
    return r.json_response(200, {"reset": True})


def get_ledger(environ: dict, gateway: Gateway) -> r.Response:
    """Acceptance counts; ?detail=0 leaves out the per-recipient and per-key maps."""
    detail = r.query(environ).get("detail", "1") not in ("0", "false", "no")
    return r.json_response(200, gateway.ledger_snapshot(detail))


def get_events(environ: dict, gateway: Gateway) -> r.Response:
    """Recipient decisions after ?since=<unix time>, oldest first, at most ?limit=."""
    params = r.query(environ)
    try:
        since = float(params.get("since", "0"))
        limit = int(params.get("limit", DEFAULT_EVENT_LIMIT))
    except ValueError:
        return r.error(400, "since must be a number and limit an integer")
    if limit < 1:
        return r.error(400, "limit must be at least 1")
    picked, more = gateway.events_since(since, min(limit, MAX_EVENT_LIMIT))
    events = [
        {"t": when, "to": number, "key": key, "outcome": OUTCOMES[code]}
        for when, number, key, code in picked
    ]
    return r.json_response(200, {"events": events, "more": more})


def post_mobile_originated(environ: dict, gateway: Gateway) -> r.Response:
    """A person's text ({"from", "to", "text"}) sent to the ESME over its bind as a deliver_sm; 409 if none is bound."""
    try:
        body = r.read_json(environ)
    except (ValueError, r.BodyTooLarge):
        return r.error(400, "body must be a JSON object")
    fields = [body.get(name) if isinstance(body, dict) else None for name in ("from", "to", "text")]
    if not all(isinstance(value, str) and value for value in fields):
        return r.error(400, "from, to and text are required strings")
    if gateway.smpp is None:
        return r.error(409, "the sandbox runs no SMSC (--smpp-port)")
    if not gateway.smpp.send_mobile_originated(*fields):
        return r.error(409, "no ESME is bound")
    return r.json_response(200, {"sent": True})


def get_smtp_messages(environ: dict, gateway: Gateway) -> r.Response:
    """Messages the SMTP server took, parsed back, with seq > ?since=, oldest first, at most ?limit=."""
    if gateway.smtp is None:
        return r.error(409, "the sandbox runs no SMTP server (--smtp-port)")
    params = r.query(environ)
    try:
        since, limit = int(params.get("since", "0")), int(params.get("limit", "1000"))
    except ValueError:
        return r.error(400, "since and limit must be integers")
    if limit < 1:
        return r.error(400, "limit must be at least 1")
    picked, more = gateway.smtp.ledger.since(since, min(limit, DEFAULT_EVENT_LIMIT))
    return r.json_response(200, {"messages": picked, "more": more})


def get_event_webhook_key(environ: dict, gateway: Gateway) -> r.Response:
    """The key the SMTP server's events are signed with, where SendGrid shows an account's."""
    if gateway.smtp is None:
        return r.error(409, "the sandbox runs no SMTP server (--smtp-port)")
    return r.json_response(200, {"enabled": True, "public_key": gateway.smtp.signer.public_key})
