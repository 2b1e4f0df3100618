"""/v1/templates: save a new version, list the newest, read every version of one."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from app.api.auth import require_service
from app.api.contract import JsonBody, accepts
from app.api.params import TEMPLATE_NAME, page_size
from app.services.intake import templates_store

bp = Blueprint("templates", __name__, url_prefix="/v1/templates")


@bp.post("")
@require_service
@accepts(body=JsonBody("TemplateRequest"))
def save(body: dict):
    """Store the next version of a template (201); 422 naming the position if it does not compile."""
    saved = templates_store.save(g.service_id, body, g.actor, current_app.config["HERALD_MAX_BODY_CHARS"])
    return jsonify(saved), 201


@bp.get("")
@require_service
@accepts(page_size(100, 1000))
def list_templates(limit: int):
    """The newest version of each of this service's templates and language variants."""
    return jsonify({"templates": templates_store.latest_all(g.service_id, limit)})


@bp.get("/<name>")
@require_service
@accepts(TEMPLATE_NAME)
def show(name: str):
    """Every version of one template, per channel and language, newest first."""
    return jsonify({"name": name, "versions": templates_store.versions(g.service_id, name)})
