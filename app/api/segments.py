"""/v1/segments: save a contact filter by name, list, read, delete, and count its contacts."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app.api.auth import require_service
from app.api.json_body import parse_json_object
from app.api.params import path_name
from app.errors import ValidationFailed
from app.services.audience import segments

bp = Blueprint("segments", __name__, url_prefix="/v1/segments")


@bp.post("")
@require_service
def create():
    """Save {name, filter}; 422 naming a bad field of the filter, 409 if the name is taken."""
    payload = parse_json_object(request.get_data(cache=False))
    if "filter" not in payload:
        raise ValidationFailed("filter is required", {"field": "filter"})
    return jsonify(segments.save(g.service_id, payload.get("name"), payload["filter"])), 201


@bp.get("")
@require_service
def list_segments():
    """Every saved segment of the service."""
    return jsonify({"segments": segments.all_segments(g.service_id)})


@bp.get("/<name>")
@require_service
def show(name: str):
    """One saved segment."""
    return jsonify(segments.get(g.service_id, path_name(name, "name", "segment")))


@bp.delete("/<name>")
@require_service
def delete(name: str):
    """Forget a segment; broadcasts already sent to it are unaffected."""
    segments.delete(g.service_id, path_name(name, "name", "segment"))
    return jsonify({"name": name, "deleted": True})


@bp.get("/<name>/count")
@require_service
def count(name: str):
    """How many contacts the segment selects now."""
    saved = segments.get(g.service_id, path_name(name, "name", "segment"))
    total = segments.count(g.service_id, segments.checked_filter(g.service_id, saved["filter"]))
    return jsonify({"name": name, "count": total})
