"""/v1/opt-outs: the service's suppression list, added to and lifted by operators, with its audit trail."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from app.api.auth import require_service
from app.api.contract import JsonBody, Param, accepts
from app.api.params import page_size
from app.api.schema_text import choice, text
from app.errors import NotFound, ValidationFailed
from app.services.audience import optouts
from app.services.channels import registry

bp = Blueprint("optouts", __name__, url_prefix="/v1/opt-outs")
TARGET = JsonBody("OptOutRequest")
CHANNEL = Param("channel", "query", choice(registry.known()), "Only this channel's list (or history).")
ADDRESS = Param("address", "query", text(), "Answer this address's audit trail instead of the list.")
AFTER_ADDRESS = Param("after", "query", text(), "The last address of the previous page.")


def _target(body: dict) -> tuple[str, str, str | None]:
    """(channel, normalised address, reason) of a checked OptOutRequest; 422 with the channel's code (SMS:
    invalid_phone_number) for text that cannot be an address on it."""
    channel, address, reason = body.get("channel", registry.DEFAULT), body["address"], body.get("reason")
    normalised = optouts.normalise(address, channel, current_app.config["HERALD_DEFAULT_REGION"])
    if normalised is None:
        kind = registry.get(channel)
        raise ValidationFailed(f"{address!r} is not a {kind.address_name}", {"field": "address"},
                               code=kind.invalid_code)
    return channel, normalised, reason


@bp.post("")
@require_service
@accepts(body=TARGET)
def add(body: dict):
    """Suppress an address on a channel (201 when new, 200 when it already was)."""
    channel, address, reason = _target(body)
    added = optouts.opt_out(g.service_id, channel, address, source="api", actor=g.actor, detail=reason)
    return jsonify(dict(channel=channel, address=address, opted_out=True)), 201 if added else 200


@bp.delete("")
@require_service
@accepts(body=TARGET)
def remove(body: dict):
    """Lift a suppression (the person asked to hear again); 404 when the address was not suppressed."""
    channel, address, reason = _target(body)
    if not optouts.opt_in(g.service_id, channel, address, source="api", actor=g.actor, detail=reason):
        raise NotFound(f"{address} is not opted out", {"field": "address"})
    return jsonify(dict(channel=channel, address=address, opted_out=False))


@bp.get("")
@require_service
@accepts(CHANNEL, ADDRESS, AFTER_ADDRESS, page_size(100, 1000))
def listing(channel: str | None, address: str | None, after: str | None, limit: int):
    """A page of the list (?channel=&after=&limit=), and with ?address= that address's audit trail."""
    if address is not None:
        normalised = optouts.normalise(address, channel or registry.DEFAULT, current_app.config["HERALD_DEFAULT_REGION"])
        return jsonify({"history": optouts.history(g.service_id, channel, normalised or address, limit)})
    page = optouts.listing(g.service_id, channel, after or "", limit)
    return jsonify({"opt_outs": page, "next_after": page[-1]["address"] if len(page) == limit else None})
