"""A contact CSV read into COPY lines for the import's temp table, with a reject per bad row.

Whole-file faults (encoding, header, a NUL, a duplicate external id, too many rows) raise
before anything is written and name the line; a bad cell only rejects its own row.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.services.audience import contacts_fields as fields
from app.services.content import csv_cells
from app.services.audience.contacts_fields import CHANNELS, FieldRejected
from app.services.channels.recipients import region_of
from app.services.content.storable_text import NUL

CONSENT_COLUMNS = tuple(f"consent_{channel}" for channel in CHANNELS)
KNOWN_COLUMNS = ("external_id", "phone", "email", "whatsapp", "inbox_user_id", "language", "attributes",
                 *CONSENT_COLUMNS, "consent_source", "consent_at")
# Temp-table columns, in COPY order.
COPY_COLUMNS = ("line", "external_id", "phone", "phone_carrier", "phone_region", "phone_error", "email", "whatsapp",
                "inbox_user_id", "language", "attributes", "consent")
# The file reads as CSV but does not hold a contact list (no external_id column, a repeated id...).
INVALID = "invalid_csv"
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")


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
        raise ValidationFailed("the CSV file is empty", {"field": "file", "line": 1}, code=INVALID)
    names = [name.strip() for name in header]
    if "external_id" not in names:
        raise ValidationFailed("the header needs an external_id column", {"field": "external_id", "line": 1},
                               code=INVALID)
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise ValidationFailed(f"column {name!r} appears twice", {"field": name, "line": 1}, code=INVALID)
        if name not in KNOWN_COLUMNS:
            try:
                fields.attribute_name(name, name)
            except FieldRejected as exc:
                raise ValidationFailed(f"column {name!r}: {exc.reason}", {"field": name, "line": 1},
                                       code=INVALID) from None
    return names


def _no_constant(name: str):
    """NaN and Infinity are not JSON, and jsonb refuses them."""
    raise ValueError(name)


def _json_attributes(raw: str) -> dict:
    """The `attributes` cell: a JSON object of safe names to strings, numbers or booleans."""
    try:
        found = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        raise FieldRejected("attributes", "not a JSON object") from None
    if not isinstance(found, dict):
        raise FieldRejected("attributes", "not a JSON object")
    return {fields.attribute_name("attributes", k): fields.attribute_value(f"attributes.{k}", v)
            for k, v in found.items()}


class RowJudge:
    """Turns one data row into a COPY line; built once per file from its header.

    100,000 rows must be judged in well under a second of CPU, so column positions are found
    once, repeated cells (consent, language) are judged once per distinct value, and a row
    whose raw text holds no tab, newline or backslash skips COPY escaping.
    """

    def __init__(self, names: list[str], region: str) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.attribute_columns = [(name, i) for i, name in enumerate(names) if name not in KNOWN_COLUMNS]
        self.region = region
        self.dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self.memo: dict = {}

    def cell(self, row: list[str], name: str) -> str | None:
        """The row's cell for a column, or None when the file has no such column."""
        i = self.index.get(name)
        return None if i is None else row[i]

    def once(self, key: tuple, judge):
        """judge() for a cell value seen before in this file is not asked again (rejections are not kept)."""
        if key not in self.memo:
            self.memo[key] = judge()
        return self.memo[key]

    def attributes(self, row: list[str]) -> str:
        """The row's attributes as a COPY-ready JSON field: the `attributes` object merged with one column per attribute."""
        raw = self.cell(row, "attributes")
        found = _json_attributes(raw) if raw and raw.strip() else {}
        for name, i in self.attribute_columns:
            value = row[i].strip()
            if value:
                if len(value) > fields.MAX_VALUE_CHARS:
                    raise FieldRejected(name, f"is longer than {fields.MAX_VALUE_CHARS} characters")
                found[name] = value
        return _json_cell(self.dumps({k: v for k, v in found.items() if v is not None})) if found else "{}"

    def consent(self, row: list[str]) -> str:
        """Consent per channel given in this row, with its source and time, as a COPY-ready JSON field."""
        cells = tuple(self.cell(row, name) for name in (*CONSENT_COLUMNS, "consent_source", "consent_at"))
        return self.once(("consent", cells), lambda: _json_cell(self.dumps(_consent(cells))))

    def line(self, line: int, row: list[str]) -> tuple[str, str]:
        """(external id, COPY line) for one row; FieldRejected names the bad cell.

        A cell our own export quoted against spreadsheet formulas is read back without the quote.
        """
        raw = "".join(row)
        if csv_cells.QUOTE in raw:
            row = [csv_cells.read_back(cell) for cell in row]
        external_id = fields.text_value("external_id", self.cell(row, "external_id"))
        if external_id is None:
            raise FieldRejected("external_id", "is empty")
        if external_id in fields.RESERVED_EXTERNAL_IDS:
            raise FieldRejected("external_id", "is reserved: /v1/contacts/import and /export are the list's own paths")
        number, carrier, error = fields.phone("phone", self.cell(row, "phone"), self.region)
        whatsapp = fields.phone("whatsapp", self.cell(row, "whatsapp"), self.region)[0]
        language = self.cell(row, "language")
        values = (external_id, number, carrier, region_of(number), error, fields.email("email", self.cell(row, "email")), whatsapp,
                  fields.text_value("inbox_user_id", self.cell(row, "inbox_user_id")),
                  self.once(("language", language), lambda: fields.language("language", language)))
        escape = _cell if _SPECIAL.search(raw) else _plain
        return external_id, "\t".join([str(line), *map(escape, values), self.attributes(row),
                                       self.consent(row)]) + "\n"


def _json_cell(data: str) -> str:
    """JSON text as a COPY field: compact JSON has no raw tab or newline, only backslashes to double."""
    return data.replace("\\", "\\\\") if "\\" in data else data


def _plain(value: str | None) -> str:
    """A COPY field known to need no escaping."""
    return _NULL if value is None else value


def _consent(cells: tuple) -> dict:
    """Consent per channel from (consent_<channel>..., consent_source, consent_at) cells."""
    *flags, source, at = cells
    source = fields.text_value("consent_source", source) or "import"
    at = fields.timestamp("consent_at", at)
    consent = {}
    for channel, column, flag in zip(CHANNELS, CONSENT_COLUMNS, flags):
        granted = fields.consent_flag(column, flag)
        if granted is not None:
            consent[channel] = {"granted": granted, "source": source, "at": at}
    return consent


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
    parsed, seen, judge = ParsedImport(columns=set(names)), {}, RowJudge(names, region)
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
            external_id, copy_line = judge.line(line, row)
        except FieldRejected as exc:
            parsed.rejects.append({"line": line, "field": exc.field, "reason": exc.reason})
            continue
        if external_id in seen:
            raise ValidationFailed(f"external_id {external_id!r} appears on lines {seen[external_id]} and {line}",
                                   {"field": "external_id", "line": line}, code=INVALID)
        seen[external_id] = line
        parsed.lines.append(copy_line)
    return parsed
