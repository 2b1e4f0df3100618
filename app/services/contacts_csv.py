"""A contact CSV read into COPY lines for the import's temp table, with a reject per bad row.

Whole-file faults (encoding, header, a NUL, a duplicate external id, too many rows) raise
before anything is written and name the line; a bad cell only rejects its own row.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.services import contacts_fields as fields
from app.services.contacts_fields import CHANNELS, FieldRejected
from app.services.storable_text import NUL

CONSENT_COLUMNS = tuple(f"consent_{channel}" for channel in CHANNELS)
KNOWN_COLUMNS = ("external_id", "phone", "email", "whatsapp", "inbox_user_id", "language", "attributes",
                 *CONSENT_COLUMNS, "consent_source", "consent_at")
# Temp-table columns, in COPY order.
COPY_COLUMNS = ("line", "external_id", "phone", "phone_carrier", "phone_error", "email", "whatsapp",
                "inbox_user_id", "language", "attributes", "consent")
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class ParsedImport:
    """What a file holds: COPY lines, rejected rows, and which columns it speaks about."""

    lines: list[str] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    rows: int = 0


def _cell(value: str | None) -> str:
    """One COPY text-format field."""
    return _NULL if value is None else value.translate(_ESCAPES)


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped), or 400 naming the line with the first bad byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MalformedRequest(f"the CSV file is not UTF-8 at line {line}", {"field": "file", "line": line},
                               code="bad_encoding") from None
    if NUL in text:
        line = text.count("\n", 0, text.index(NUL)) + 1
        raise MalformedRequest(f"line {line} contains a NUL character (U+0000)", {"field": "file", "line": line},
                               code="nul_character")
    return text


def check_header(header: list[str] | None) -> list[str]:
    """Column names: external_id required, no repeats, attribute columns of a safe shape."""
    if not header:
        raise ValidationFailed("the CSV file is empty", {"field": "file", "line": 1})
    names = [name.strip() for name in header]
    if "external_id" not in names:
        raise ValidationFailed("the header needs an external_id column", {"field": "external_id", "line": 1})
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise ValidationFailed(f"column {name!r} appears twice", {"field": name, "line": 1})
        if name not in KNOWN_COLUMNS:
            try:
                fields.attribute_name(name, name)
            except FieldRejected as exc:
                raise ValidationFailed(f"column {name!r}: {exc.reason}", {"field": name, "line": 1}) from None
    return names


def _no_constant(name: str):
    """NaN and Infinity are not JSON, and jsonb refuses them."""
    raise ValueError(name)


def _attributes(cells: dict) -> dict:
    """The row's attributes: an `attributes` JSON object merged with one column per attribute."""
    found: dict = {}
    raw = cells.get("attributes")
    if raw and raw.strip():
        try:
            found = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            raise FieldRejected("attributes", "not a JSON object") from None
        if not isinstance(found, dict):
            raise FieldRejected("attributes", "not a JSON object")
        found = {fields.attribute_name("attributes", k): fields.attribute_value(f"attributes.{k}", v)
                 for k, v in found.items()}
    for name, value in cells.items():
        if name not in KNOWN_COLUMNS:
            value = fields.text_value(name, value)
            if value is not None:
                found[name] = value
    return {k: v for k, v in found.items() if v is not None}


def _consent(cells: dict) -> dict:
    """Consent per channel given in this row, with its source and time."""
    source = fields.text_value("consent_source", cells.get("consent_source")) or "import"
    at = fields.timestamp("consent_at", cells.get("consent_at"))
    consent = {}
    for channel, column in zip(CHANNELS, CONSENT_COLUMNS):
        granted = fields.consent_flag(column, cells.get(column))
        if granted is not None:
            consent[channel] = {"granted": granted, "source": source, "at": at}
    return consent


def row_line(line: int, cells: dict, region: str, dumps) -> tuple[str, str]:
    """(external id, COPY line) for one row; FieldRejected names the bad cell."""
    external_id = fields.text_value("external_id", cells.get("external_id"))
    if external_id is None:
        raise FieldRejected("external_id", "is empty")
    number, carrier, error = fields.phone("phone", cells.get("phone"), region)
    whatsapp, _, _ = fields.phone("whatsapp", cells.get("whatsapp"), region)
    values = (external_id, number, carrier, error, fields.email("email", cells.get("email")), whatsapp,
              fields.text_value("inbox_user_id", cells.get("inbox_user_id")),
              fields.language("language", cells.get("language")))
    attributes, consent = dumps(_attributes(cells)), dumps(_consent(cells))
    return external_id, "\t".join([str(line), *map(_cell, values), _cell(attributes), _cell(consent)]) + "\n"


def parse(text: str, region: str, max_rows: int) -> ParsedImport:
    """Every row judged; raises for whole-file faults, naming the line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = check_header(next(reader, None))
        return _rows(reader, names, region, max_rows)
    except csv.Error as exc:
        raise MalformedRequest(f"the CSV file cannot be read at line {reader.line_num}: {exc}",
                               {"field": "file", "line": reader.line_num}, code="unreadable_csv") from None


def _rows(reader, names: list[str], region: str, max_rows: int) -> ParsedImport:
    """Judge each data row; a duplicate external id or one row too many refuses the whole file."""
    parsed, seen = ParsedImport(columns=set(names)), {}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        parsed.rows += 1
        if parsed.rows > max_rows:
            raise PayloadTooLarge(f"more than {max_rows} contacts in one import", {"field": "file", "line": line})
        if len(row) != len(names):
            parsed.rejects.append({"line": line, "field": None,
                                   "reason": f"{len(row)} fields; the header has {len(names)}"})
            continue
        try:
            external_id, copy_line = row_line(line, dict(zip(names, row)), region, dumps)
        except FieldRejected as exc:
            parsed.rejects.append({"line": line, "field": exc.field, "reason": exc.reason})
            continue
        if external_id in seen:
            raise ValidationFailed(f"external_id {external_id!r} appears on lines {seen[external_id]} and {line}",
                                   {"field": "external_id", "line": line})
        seen[external_id] = line
        parsed.lines.append(copy_line)
    return parsed
