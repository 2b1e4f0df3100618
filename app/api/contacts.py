"""/v1/contacts: CSV import and export, keyset pages, and one contact's read, update and erasure."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from app.api.auth import require_service
from app.api.json_body import parse_json_object
from app.api.params import int_arg, path_name
from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.services.audience import contacts
from app.services.content import csv_cells
from app.services.control import contacts_erasure
from app.services.audience.contacts_fields import FieldRejected

bp = Blueprint("contacts", __name__, url_prefix="/v1/contacts")


def _upload(max_bytes: int) -> bytes:
    """The CSV bytes: a text/csv body, or a multipart form's `file`; 413 over the limit."""
    if (request.content_length or 0) > max_bytes:
        raise PayloadTooLarge(f"the import is over {max_bytes} bytes", {"field": "file"})
    if request.mimetype == "text/csv":
        return request.get_data(cache=False)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("multipart imports need a CSV in the 'file' field", {"field": "file"})
        return upload.read()
    raise MalformedRequest("send text/csv, or multipart/form-data with a CSV file", {"field": "Content-Type"},
                           code="unsupported_media_type")


@bp.post("/import")
@require_service
def import_contacts():
    """Upsert contacts by external id from a CSV; rejected rows are reported by line and reason."""
    cfg = current_app.config
    data = _upload(cfg["HERALD_MAX_CONTACT_IMPORT_BYTES"])
    if len(data) > cfg["HERALD_MAX_CONTACT_IMPORT_BYTES"]:
        raise PayloadTooLarge(f"the import is over {cfg['HERALD_MAX_CONTACT_IMPORT_BYTES']} bytes", {"field": "file"})
    report = contacts.import_csv(g.service_id, data, cfg["HERALD_DEFAULT_REGION"], cfg["HERALD_MAX_CONTACT_ROWS"],
                                 cfg["HERALD_MAX_REPORTED_REJECTS"])
    return jsonify(report)


@bp.get("/export")
@require_service
def export_contacts():
    """Every contact as CSV (the import's own columns, formulas neutralised), streamed page by page."""
    rows = csv_cells.stream(contacts.EXPORT_COLUMNS, contacts.export_rows(g.service_id))
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


@bp.get("")
@require_service
def list_contacts():
    """A keyset page of contacts: ?after=<next_after>&limit=."""
    limit = int_arg("limit", 100, 1, 1000)
    rows, next_after = contacts.page(g.service_id, int_arg("after", 0, 0, 2**63 - 1), limit)
    return jsonify({"contacts": rows, "next_after": next_after})


@bp.get("/<external_id>")
@require_service
def show(external_id: str):
    """One contact."""
    return jsonify(contacts.get(g.service_id, path_name(external_id, "external_id", "contact")))


@bp.patch("/<external_id>")
@require_service
def update(external_id: str):
    """Change addresses, language, attributes (merged; null removes one) or consent per channel."""
    path_name(external_id, "external_id", "contact")
    payload = parse_json_object(request.get_data(cache=False))
    try:
        return jsonify(contacts.update(g.service_id, external_id, payload, current_app.config["HERALD_DEFAULT_REGION"]))
    except FieldRejected as exc:
        raise ValidationFailed(f"{exc.field} {exc.reason}", {"field": exc.field}) from None


@bp.delete("/<external_id>")
@require_service
def erase(external_id: str):
    """Delete the contact and erase their addresses everywhere (counts are kept); answer with the receipt."""
    receipt = contacts_erasure.erase(g.service_id, path_name(external_id, "external_id", "contact"), g.actor)
    return jsonify({"external_id": external_id, "deleted": True, "messages_erased": receipt["messages_tombstoned"],
                    "receipt": receipt})
