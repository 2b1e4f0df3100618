"""/v1/contacts: CSV import and export, keyset pages, and one contact's read, update and erasure."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from app.api.auth import require_service
from app.api.contract import JsonBody, accepts, ref, unsupported_media_type
from app.api.params import AFTER, EXTERNAL_ID, page_size
from app.api.schema_text import text
from app.errors import PayloadTooLarge, ValidationFailed
from app.services.audience import contacts
from app.services.content import csv_cells
from app.services.control import contacts_erasure
from app.services.audience.contacts_fields import FieldRejected

bp = Blueprint("contacts", __name__, url_prefix="/v1/contacts")


class ContactsCsv:
    """POST /v1/contacts/import's body: a text/csv body, or a multipart form's `file`; 413 over the limit."""

    def spec(self, config) -> dict:
        """The OpenAPI request body object."""
        return {"required": True, "content": {
            "multipart/form-data": {"schema": ref("ContactImport"), "encoding": {"file": {"contentType": "text/csv"}}},
            "text/csv": {"schema": text("The CSV itself.")}}}

    def read(self, config) -> bytes:
        """The CSV's bytes (their content is judged by the import, naming line and field)."""
        max_bytes = config["HERALD_MAX_CONTACT_IMPORT_BYTES"]
        if (request.content_length or 0) > max_bytes:
            raise PayloadTooLarge(f"the import is over {max_bytes} bytes", {"field": "file"})
        data = self._data()
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"the import is over {max_bytes} bytes", {"field": "file"})
        return data

    @staticmethod
    def _data() -> bytes:
        """The CSV's bytes from a text/csv body or the form's `file` part; 400/422 for anything else."""
        if request.mimetype == "text/csv":
            return request.get_data(cache=False)
        if request.mimetype != "multipart/form-data":
            raise unsupported_media_type("text/csv, or multipart/form-data with a CSV file")
        extra = [name for name in (*request.form, *request.files) if name != "file"]
        if extra:
            raise ValidationFailed(f"unknown field {extra[0]!r}", {"field": extra[0]})
        upload = request.files.get("file")
        if upload is not None:
            return upload.read()
        if "file" in request.form:  # a part sent without a file name
            return request.form["file"].encode("utf-8", "surrogatepass")
        raise ValidationFailed("file is required: multipart imports need a CSV in the 'file' field", {"field": "file"})


@bp.post("/import")
@require_service
@accepts(body=ContactsCsv())
def import_contacts(body: bytes):
    """Upsert contacts by external id from a CSV; rejected rows are reported by line and reason."""
    cfg = current_app.config
    report = contacts.import_csv(g.service_id, body, cfg["HERALD_DEFAULT_REGION"], cfg["HERALD_MAX_CONTACT_ROWS"],
                                 cfg["HERALD_MAX_REPORTED_REJECTS"])
    return jsonify(report)


@bp.get("/export")
@require_service
@accepts()
def export_contacts():
    """Every contact as CSV (the import's own columns, formulas neutralised), streamed page by page."""
    rows = csv_cells.stream(contacts.EXPORT_COLUMNS, contacts.export_rows(g.service_id))
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


@bp.get("")
@require_service
@accepts(AFTER, page_size(100, 1000))
def list_contacts(after: int, limit: int):
    """A keyset page of contacts: ?after=<next_after>&limit=."""
    rows, next_after = contacts.page(g.service_id, after, limit)
    return jsonify({"contacts": rows, "next_after": next_after})


@bp.get("/<contact_id:external_id>")
@require_service
@accepts(EXTERNAL_ID)
def show(external_id: str):
    """One contact."""
    return jsonify(contacts.get(g.service_id, external_id))


@bp.patch("/<contact_id:external_id>")
@require_service
@accepts(EXTERNAL_ID, body=JsonBody("ContactPatch"))
def update(external_id: str, body: dict):
    """Change addresses, language, attributes (merged; null removes one) or consent per channel."""
    try:
        return jsonify(contacts.update(g.service_id, external_id, body, current_app.config["HERALD_DEFAULT_REGION"]))
    except FieldRejected as exc:
        raise ValidationFailed(f"{exc.field} {exc.reason}", {"field": exc.field}, code=exc.code) from None


@bp.delete("/<contact_id:external_id>")
@require_service
@accepts(EXTERNAL_ID)
def erase(external_id: str):
    """Delete the contact and erase their addresses everywhere (counts are kept); answer with the receipt."""
    receipt = contacts_erasure.erase(g.service_id, external_id, g.actor)
    return jsonify({"external_id": external_id, "deleted": True, "messages_erased": receipt["messages_tombstoned"],
                    "receipt": receipt})
