"""CSV uploads that Python's csv module cannot read: 400 naming the line, nothing written."""
from __future__ import annotations

import csv
import io

from herald_testing import count_rows


def upload(client, service, csv_text: str, body: str = "Hello ((name))"):
    """POST a multipart CSV broadcast."""
    return client.post("/v1/broadcasts", headers=service.headers, content_type="multipart/form-data", data={
        "channel": "sms", "body": body, "file": (io.BytesIO(csv_text.encode()), "list.csv")})


def test_a_field_over_the_csv_limit_is_400_naming_the_line(client, service, app):
    huge = "x" * (csv.field_size_limit() + 1)
    text = f"to,name\n+260961000001,Ada\n+260961000002,Grace\n+260961000003,\"{huge}\"\n"
    response = upload(client, service, text)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "unreadable_csv"
    assert error["details"] == {"field": "file", "line": 4}
    assert "line 4" in error["message"]
    assert count_rows(app) == (0, 0)


def test_an_unterminated_quote_at_the_end_is_still_read(client, service, app):
    # csv reads a dangling quote to the end of the file; the row is judged, not the request refused.
    response = upload(client, service, 'to,name\n+260961000001,"Ada\n')
    assert response.status_code == 202
    assert count_rows(app) == (1, 1)
