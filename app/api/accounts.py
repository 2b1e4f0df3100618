"""/v1/accounts: operator actions on the gateway accounts every service sends through."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api.auth import require_service
from app.api.contract import accepts
from app.api.params import ACCOUNT
from app.services.control import breaker_control

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


@bp.post("/<account>/breaker/close")
@require_service
@accepts(ACCOUNT)
def close_breaker(account: str):
    """Close the account's circuit breaker and resume the broadcasts it paused (any service's key may)."""
    return jsonify(breaker_control.close_breaker(account, g.actor, g.service_id))
