"""The report CSV never hands a spreadsheet a live formula from uploaded text; phone numbers stay numbers."""
from __future__ import annotations

import csv
import io

import pytest
from herald_testing import post_json, sms

from app.services.reporting import spreadsheet_safe


@pytest.mark.parametrize("cell,shown", [
    ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("+260971234567", "+260971234567"),
    ("+２６０", "'+２６０"),
    ("+", "'+"),
    ("MTN", "MTN"),
    ("0.0050", "0.0050"),
    (3, 3),
])
def test_spreadsheet_safe(cell, shown):
    assert spreadsheet_safe(cell) == shown


def test_report_neutralises_uploaded_formulas_but_keeps_e164_numbers(client, service):
    payload = sms([{"to": "+260971234567"}, {"to": '=HYPERLINK("http://evil.example","Click me")'},
                   {"to": "@SUM(1+1)"}, {"to": "-1+2"}])
    created = post_json(client, service, "/v1/broadcasts", payload).json
    response = client.get(f"/v1/broadcasts/{created['id']}/report.csv", headers=service.headers)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    recipients = [row["recipient"] for row in rows]
    assert recipients == ["+260971234567", '\'=HYPERLINK("http://evil.example","Click me")', "'@SUM(1+1)", "'-1+2"]
