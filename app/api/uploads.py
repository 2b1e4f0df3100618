"""Reading a broadcast request from a JSON body or a multipart CSV upload."""
from __future__ import annotations

import csv
import io
import json

from flask import request

from app.api.json_body import parse_json_object
from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.services.intake.broadcast_request import check_recipient_list
from app.services.intake.idempotency import request_fingerprint
from app.services.intake.segments_audience import wanted as audience_requested
from app.services.content.storable_text import NUL

ADDRESS_COLUMNS = ("to", "phone number", "phone_number", "phone", "msisdn", "mobile")
FORM_FIELDS = ("channel", "body", "template", "sender", "priority", "scheduled_for", "rate_limit_per_second")


def read_json_request(max_recipients: int) -> tuple[dict, list, str]:
    """(payload, recipients, fingerprint) from a JSON body; recipients is None when it addresses contacts."""
    raw = request.get_data(cache=False)
    payload = parse_json_object(raw)
    if audience_requested(payload):
        return payload, None, request_fingerprint(raw)  # contacts, resolved by segments_audience
    if "recipients" not in payload:
        raise ValidationFailed("recipients is required", {"field": "recipients"})
    recipients = check_recipient_list(payload["recipients"], max_recipients)
    return payload, recipients, request_fingerprint(raw)


def _address_column(header: list[str]) -> int:
    """Index of the column holding phone numbers."""
    lowered = [name.strip().lower() for name in header]
    for name in ADDRESS_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    raise ValidationFailed(f"the CSV needs a column named one of {list(ADDRESS_COLUMNS)}", {"field": "file"})


def _unreadable(line: int, why: str) -> MalformedRequest:
    """400 naming the CSV line that cannot be read."""
    return MalformedRequest(f"the CSV file cannot be read at line {line}: {why}", {"field": "file", "line": line},
                            code="unreadable_csv")


def _csv_items(text: str, max_recipients: int) -> list[dict]:
    """Rows of a CSV as {to, personalisation} items, or 400 naming the line that cannot be read."""
    if NUL in text:
        # PostgreSQL text cannot hold NUL; name the line rather than let csv fail on it.
        raise _unreadable(text.count("\n", 0, text.index(NUL)) + 1, "it contains a NUL character (U+0000)")
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
        raise ValidationFailed("the CSV file is empty", {"field": "file"})
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
        raise ValidationFailed("the CSV file has no recipient rows", {"field": "file"})
    return items


def read_csv_request(max_recipients: int) -> tuple[dict, list, str]:
    """(payload, recipients, fingerprint) from a multipart form with a CSV `file`."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("multipart requests need a CSV file in the 'file' field", {"field": "file"})
    data = upload.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("the CSV file must be UTF-8", {"field": "file"}) from None
    payload = {name: request.form[name] for name in FORM_FIELDS if name in request.form}
    if "rate_limit_per_second" in payload:
        payload["rate_limit_per_second"] = payload["rate_limit_per_second"].strip() or None
    form_bytes = json.dumps(payload, sort_keys=True).encode()
    return payload, _csv_items(text, max_recipients), request_fingerprint(form_bytes, data)


def read_broadcast_request(max_recipients: int) -> tuple[dict, list, str]:
    """Dispatch on content type: JSON or multipart CSV; anything else is 415."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        return read_json_request(max_recipients)
    if mimetype == "multipart/form-data":
        return read_csv_request(max_recipients)
    raise MalformedRequest("send application/json or multipart/form-data with a CSV file",
                           {"field": "Content-Type"}, code="unsupported_media_type")
