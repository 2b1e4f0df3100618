"""/v1/opt-outs: the service's suppression list, added to and lifted by operators, with its audit trail."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from app.api.auth import require_service
from app.api.json_body import parse_json_object
from app.api.params import int_arg, text_arg
from app.errors import NotFound, ValidationFailed
from app.services.audience import optouts
from app.services.channels import registry
from app.services.content.storable_text import check_text

bp = Blueprint("optouts", __name__, url_prefix="/v1/opt-outs")


def _target() -> tuple[str, str, str | None]:
    """(channel, normalised address, reason) from the JSON body, or a 422 naming the field."""
    payload = parse_json_object(request.get_data(cache=False))
    channel, address, reason = payload.get("channel", registry.DEFAULT), payload.get("address"), payload.get("reason")
    if not isinstance(channel, str) or channel not in registry.CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}", {"field": "channel"})
    if not isinstance(address, str) or not address.strip() or len(address) > 320:
        raise ValidationFailed("address is required: a phone number or email address", {"field": "address"})
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise ValidationFailed("reason must be a string of at most 500 characters", {"field": "reason"})
    check_text("address", address)
    if reason is not None:
        check_text("reason", reason)
    normalised = optouts.normalise(address, channel, current_app.config["HERALD_DEFAULT_REGION"])
    if normalised is None:
        raise ValidationFailed(f"{address!r} is not a {registry.get(channel).address_name}", {"field": "address"})
    return channel, normalised, reason


@bp.post("")
@require_service
def add():
    """Suppress an address on a channel (201 when new, 200 when it already was)."""
    channel, address, reason = _target()
    added = optouts.opt_out(g.service_id, channel, address, source="api", actor=g.actor, detail=reason)
    return jsonify({"channel": channel, "address": address, "opted_out": True}), 201 if added else 200


@bp.delete("")
@require_service
def remove():
    """Lift a suppression (the person asked to hear again); 404 when the address was not suppressed."""
    channel, address, reason = _target()
    if not optouts.opt_in(g.service_id, channel, address, source="api", actor=g.actor, detail=reason):
        raise NotFound(f"{address} is not opted out", {"field": "address"})
    return jsonify({"channel": channel, "address": address, "opted_out": False})


@bp.get("")
@require_service
def listing():
    """A page of the list (?channel=&after=&limit=), and with ?address= that address's audit trail."""
    channel, address = text_arg("channel"), text_arg("address")
    if channel is not None and channel not in registry.CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}; known: {registry.known()}", {"field": "channel"})
    limit = int_arg("limit", 100, 1, 1000)
    if address is not None:
        normalised = optouts.normalise(address, channel or registry.DEFAULT, current_app.config["HERALD_DEFAULT_REGION"])
        return jsonify({"history": optouts.history(g.service_id, channel, normalised or address, limit)})
    page = optouts.listing(g.service_id, channel, text_arg("after") or "", limit)
    return jsonify({"opt_outs": page, "next_after": page[-1]["address"] if len(page) == limit else None})
