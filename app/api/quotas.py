"""/v1/quotas: limit, used, remaining and reset time of every quota a service sends under."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from app.api.auth import require_service
from app.api.contract import accepts
from app.services.limits import quota

bp = Blueprint("quotas", __name__, url_prefix="/v1/quotas")


@bp.get("")
@require_service
@accepts()
def show():
    """The service's own quota and its provider account's, in the windows now in force."""
    return jsonify({"quotas": quota.report(g.service_id, current_app.config["HERALD_SMS_PROVIDER"])})
