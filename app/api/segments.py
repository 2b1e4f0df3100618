"""/v1/segments: save a contact filter by name, list, read, delete, and count its contacts."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api.auth import require_service
from app.api.contract import JsonBody, accepts
from app.api.params import SEGMENT_NAME
from app.services.audience import segments

bp = Blueprint("segments", __name__, url_prefix="/v1/segments")


@bp.post("")
@require_service
@accepts(body=JsonBody("SegmentRequest"))
def create(body: dict):
    """Save {name, filter}; 422 naming a bad field of the filter, 409 if the name is taken."""
    return jsonify(segments.save(g.service_id, body["name"], body["filter"])), 201


@bp.get("")
@require_service
@accepts()
def list_segments():
    """Every saved segment of the service."""
    return jsonify({"segments": segments.all_segments(g.service_id)})


@bp.get("/<name>")
@require_service
@accepts(SEGMENT_NAME)
def show(name: str):
    """One saved segment."""
    return jsonify(segments.get(g.service_id, name))


@bp.delete("/<name>")
@require_service
@accepts(SEGMENT_NAME)
def delete(name: str):
    """Forget a segment; broadcasts already sent to it are unaffected."""
    segments.delete(g.service_id, name)
    return jsonify({"name": name, "deleted": True})


@bp.get("/<name>/count")
@require_service
@accepts(SEGMENT_NAME)
def count(name: str):
    """How many contacts the segment selects now."""
    saved = segments.get(g.service_id, name)
    total = segments.count(g.service_id, segments.checked_filter(g.service_id, saved["filter"]))
    return jsonify({"name": name, "count": total})
