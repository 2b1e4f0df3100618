"""Reading a broadcast request: a JSON BroadcastRequest, or a multipart BroadcastUpload with a CSV.

Both are checked against their declared schemas (app/api/request_schemas.py) before anything else
looks at them; the CSV's own content (an address column, at least one row) is judged here.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from flask import request

from app.api.contract import NUMBER_TEXT, check_body, ref, unsupported_media_type
from app.api.json_body import parse_json_object
from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.services.intake.idempotency import request_fingerprint
from app.services.content.storable_text import NUL, check_text

ADDRESS_COLUMNS = ("to", "phone number", "phone_number", "phone", "msisdn", "mobile")
FORM_FIELDS = ("channel", "body", "template", "sender", "priority", "scheduled_for", "rate_limit_per_second")


@dataclass(frozen=True)
class BroadcastInput:
    """A checked broadcast request: its fields, its recipients (None for an audience), its fingerprint."""

    payload: dict
    items: list | None
    fingerprint: str


class BroadcastBody:
    """POST /v1/broadcasts's body: JSON, or a multipart form with a CSV file; anything else is 400."""

    def spec(self, config) -> dict:
        """The OpenAPI request body object."""
        return {"required": True, "content": {
            "application/json": {"schema": ref("BroadcastRequest")},
            "multipart/form-data": {"schema": ref("BroadcastUpload"),
                                    "encoding": {"file": {"contentType": "text/csv"}}}}}

    def read(self, config) -> BroadcastInput:
        """The checked request, or the 4xx naming what is wrong."""
        if request.mimetype == "application/json":
            return read_json_request(config)
        if request.mimetype == "multipart/form-data":
            return read_csv_request(config)
        raise unsupported_media_type("application/json or multipart/form-data with a CSV file")


def read_json_request(config) -> BroadcastInput:
    """A JSON body: 413 over the recipient limit, else checked against BroadcastRequest."""
    raw = request.get_data(cache=False)
    payload = parse_json_object(raw)
    recipients = payload.get("recipients")
    limit = config["HERALD_MAX_RECIPIENTS"]
    if isinstance(recipients, list) and len(recipients) > limit:
        raise PayloadTooLarge(f"{len(recipients)} recipients; the limit is {limit}", {"field": "recipients"})
    check_body("BroadcastRequest", payload, config)
    return BroadcastInput(payload, recipients, request_fingerprint(raw))


def _address_column(header: list[str]) -> int:
    """Index of the column holding phone numbers."""
    lowered = [name.strip().lower() for name in header]
    for name in ADDRESS_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    raise _invalid(f"the CSV needs a column named one of {list(ADDRESS_COLUMNS)}")


def _invalid(message: str) -> ValidationFailed:
    """422 invalid_csv: the file reads as CSV but does not hold a recipient list."""
    return ValidationFailed(message, {"field": "file"}, code="invalid_csv")


def _unreadable(line: int, why: str) -> MalformedRequest:
    """400 naming the CSV line that cannot be read."""
    return MalformedRequest(f"the CSV file cannot be read at line {line}: {why}", {"field": "file", "line": line},
                            code="unreadable_csv")


def _csv_items(text: str, max_recipients: int) -> list[dict]:
    """Rows of a CSV as {to, personalisation} items, or 4xx naming the line or the fault."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _csv_rows(reader, max_recipients)
    except csv.Error as exc:
        # e.g. a field over csv.field_size_limit() (131,072 characters).
        raise _unreadable(reader.line_num, str(exc)) from None


def _csv_rows(reader, max_recipients: int) -> list[dict]:
    """Rows of a CSV as {to, personalisation} items; other columns personalise."""
    header = next(reader, None)
    if not header:
        raise _invalid("the CSV file is empty")
    address = _address_column(header)
    names = [name.strip() for name in header]
    items = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(items) >= max_recipients:
            raise PayloadTooLarge(f"more than {max_recipients} recipients", {"field": "file"})
        values = {names[i]: cell for i, cell in enumerate(row) if i != address and i < len(names)}
        items.append({"to": row[address] if address < len(row) else "", "personalisation": values or None})
    if not items:
        raise _invalid("the CSV file has no recipient rows")
    return items


def _csv_text() -> tuple[bytes, str]:
    """The `file` part's bytes and text (a part sent without a file name arrives as a plain field)."""
    upload = request.files.get("file")
    if upload is not None:
        data = upload.read()
    elif "file" in request.form:
        data = request.form["file"].encode("utf-8", "surrogatepass")
    else:
        raise ValidationFailed("file is required: multipart requests need a CSV in the 'file' field",
                               {"field": "file"})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the CSV file must be UTF-8", {"field": "file"}) from None
    if NUL in text:
        # PostgreSQL text cannot hold NUL; name the line rather than let csv fail on it.
        raise _unreadable(text.count("\n", 0, text.index(NUL)) + 1, "it contains a NUL character (U+0000)")
    return data, text


def _form() -> dict:
    """Every text field of the form but the file, storable, the send rate as the number it spells."""
    # A part whose name the form parser cannot read (None) is no field at all: like any extra field, ignored.
    form = {check_text(f"{name} (a field name)", name): check_text(name, request.form[name])
            for name in request.form if name is not None and name != "file"}
    rate = form.get("rate_limit_per_second")
    if rate is not None and NUMBER_TEXT.match(rate.strip()):
        form["rate_limit_per_second"] = json.loads(rate.strip())
    return form


def read_csv_request(config) -> BroadcastInput:
    """A multipart form with a CSV `file`, checked against BroadcastUpload, then its rows read."""
    data, text = _csv_text()
    form = _form()
    check_body("BroadcastUpload", {**form, "file": text}, config)
    payload = {name: form[name] for name in FORM_FIELDS if name in form}
    if isinstance(payload.get("rate_limit_per_second"), str):
        payload["rate_limit_per_second"] = None  # a blank rate, as an HTML form sends an empty field: no limit
    form_bytes = json.dumps(payload, sort_keys=True).encode()
    return BroadcastInput(payload, _csv_items(text, config["HERALD_MAX_RECIPIENTS"]),
                          request_fingerprint(form_bytes, data))
