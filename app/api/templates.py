"""/v1/templates: save a new version, list the newest, read every version of one."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from app.api.auth import require_service
from app.api.json_body import parse_json_object
from app.api.params import int_arg
from app.services.intake import templates_store
from app.services.content.storable_text import check_text

bp = Blueprint("templates", __name__, url_prefix="/v1/templates")


@bp.post("")
@require_service
def save():
    """Store the next version of a template (201); 422 naming the position if it does not compile."""
    payload = parse_json_object(request.get_data(cache=False))
    saved = templates_store.save(g.service_id, payload, g.actor, current_app.config["HERALD_MAX_BODY_CHARS"])
    return jsonify(saved), 201


@bp.get("")
@require_service
def list_templates():
    """The newest version of each of this service's templates and language variants."""
    return jsonify({"templates": templates_store.latest_all(g.service_id, int_arg("limit", 100, 1, 1000))})


@bp.get("/<name>")
@require_service
def show(name: str):
    """Every version of one template, per channel and language, newest first."""
    return jsonify({"name": name, "versions": templates_store.versions(g.service_id, check_text("name", name))})
