"""The report CSV never hands a spreadsheet a live formula from uploaded text; phone numbers stay numbers."""
from __future__ import annotations

import csv
import io

from herald_testing import post_json, sms


def test_report_neutralises_uploaded_formulas_but_keeps_e164_numbers(client, service):
    payload = sms([{"to": "+260971234567"}, {"to": '=HYPERLINK("http://evil.example","Click me")'},
                   {"to": "@SUM(1+1)"}, {"to": "-1+2"}])
    created = post_json(client, service, "/v1/broadcasts", payload).json
    response = client.get(f"/v1/broadcasts/{created['id']}/report.csv", headers=service.headers)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    recipients = [row["recipient"] for row in rows]
    assert recipients == ["+260971234567", '\'=HYPERLINK("http://evil.example","Click me")', "'@SUM(1+1)", "'-1+2"]
