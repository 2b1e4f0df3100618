"""Every CSV export writes cells a spreadsheet shows as data: no live formula from stored text, phone
numbers kept, and a contact export that the importer reads back unchanged."""
from __future__ import annotations

import csv
import io

import pytest
from contacts_testing import import_rows
from herald_testing import post_json, sms

from app.services.content.csv_cells import read_back, spreadsheet_safe

# Stored text that reaches an export (intake and import strip surrounding whitespace, so a leading
# tab or CR is covered by the table below only).
HOSTILE = ["=1+1", "@x", "+cmd", "-cmd", '=HYPERLINK("http://evil.example","Click me")']
E164 = "+260971234567"


@pytest.mark.parametrize("cell,shown", [
    ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("=1+1", "'=1+1"), ("@x", "'@x"), ("+cmd", "'+cmd"), ("-cmd", "'-cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    (E164, E164),
    ("+２６０", "'+２６０"),
    ("+", "'+"),
    ("'=1", "''=1"),
    ("'+260971234567", "'+260971234567"),
    ("O'Brien", "O'Brien"),
    ("'quoted'", "'quoted'"),
    ("MTN", "MTN"),
    ("0.0050", "0.0050"),
    ("", ""),
    (3, 3),
])
def test_spreadsheet_safe(cell, shown):
    assert spreadsheet_safe(cell) == shown


@pytest.mark.parametrize("value", [*HOSTILE, E164, "'=1", "''@x", "'", "''", "'plain", "O'Brien", "", "-"])
def test_read_back_undoes_exactly_what_spreadsheet_safe_added(value):
    assert read_back(spreadsheet_safe(value)) == value


def _csv(response) -> list[dict]:
    """A CSV download as dicts, after checking it is one."""
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_broadcast_report_neutralises_formulas_and_keeps_e164(client, service):
    created = post_json(client, service, "/v1/broadcasts", sms([{"to": E164}] + [{"to": v} for v in HOSTILE])).json
    rows = _csv(client.get(f"/v1/broadcasts/{created['id']}/report.csv", headers=service.headers))
    assert [row["recipient"] for row in rows] == [E164, *("'" + v for v in HOSTILE)]


def test_contact_export_neutralises_formulas_keeps_e164_and_reads_back(app, client, service):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([v, E164 if i == 0 else "", "", v] for i, v in enumerate(HOSTILE))
    lines = buffer.getvalue().splitlines()
    report = import_rows(app, service.service_id, lines, header="external_id,phone,email,inbox_user_id")
    assert (report["created"], report["rejected"]) == (len(HOSTILE), 0), report
    exported = client.get("/v1/contacts/export", headers=service.headers)
    rows = _csv(exported)
    assert sorted(row["external_id"] for row in rows) == sorted("'" + v for v in HOSTILE)
    assert sorted(row["inbox_user_id"] for row in rows) == sorted("'" + v for v in HOSTILE)
    assert [row["phone"] for row in rows if row["phone"]] == [E164]
    again = client.post("/v1/contacts/import", data=exported.get_data(),
                        headers={**service.headers, "Content-Type": "text/csv"})
    assert (again.json["created"], again.json["updated"], again.json["rejected"]) == (0, len(HOSTILE), 0), again.json
    ids = sorted(c["external_id"] for c in client.get("/v1/contacts", headers=service.headers).json["contacts"])
    assert ids == sorted(HOSTILE)
