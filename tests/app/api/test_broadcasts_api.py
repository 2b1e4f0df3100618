"""POST/GET /v1/broadcasts against the real database: intake, idempotency, bad input."""
from __future__ import annotations

import io
import json

import pytest
from herald_testing import make_service, recipients
from sqlalchemy import func, select

from app.extensions import db
from app.models import Broadcast, Message


def count_rows(app) -> tuple[int, int]:
    """(broadcasts, messages) in the database."""
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Broadcast)),
                db.session.scalar(select(func.count()).select_from(Message)))


def post(client, service, payload, **headers):
    """POST a JSON broadcast."""
    return client.post("/v1/broadcasts", data=json.dumps(payload),
                       headers={**service.headers, "Content-Type": "application/json", **headers})


def sms(recips, body="Rain expected tomorrow"):
    """A minimal valid SMS broadcast payload."""
    return {"channel": "sms", "body": body, "recipients": recips}


def test_missing_or_wrong_key_is_401(client, service):
    assert client.post("/v1/broadcasts", json=sms(recipients(1))).status_code == 401
    response = client.post("/v1/broadcasts", json=sms(recipients(1)), headers={"Authorization": "Bearer hk_nope"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_create_normalises_collapses_and_rejects(client, service, app):
    payload = sms([{"to": "+260 96 1000001"}, {"to": "0961000001"}, {"to": "097-100-0002"},
                   {"to": "+260211234567"}, {"to": "not a number"}, {"to": "+260951000003"}])
    response = post(client, service, payload)
    assert response.status_code == 202
    body = response.json
    assert (body["recipients"], body["accepted"], body["rejected"], body["duplicates"]) == (6, 3, 2, 1)
    assert body["status"] == "running"
    with app.app_context():
        rows = {m.recipient: m for m in db.session.scalars(select(Message))}
    assert rows["+260961000001"].carrier == "MTN" and rows["+260961000001"].status == "pending"
    assert rows["+260971000002"].carrier == "Airtel"
    assert rows["+260951000003"].carrier == "ZAMTEL"
    assert rows["+260211234567"].status == "rejected" and rows["+260211234567"].error_code == "not_mobile"
    assert rows["not a number"].error_code == "unparseable"


def test_missing_personalisation_is_rejected_per_recipient(client, service, app):
    payload = sms([{"to": "+260961000001", "personalisation": {"name": "Ada"}}, {"to": "+260961000002"}],
                  body="Hello ((name))")
    body = post(client, service, payload).json
    assert (body["accepted"], body["rejected"]) == (1, 1)
    with app.app_context():
        row = db.session.scalar(select(Message).where(Message.recipient == "+260961000002"))
    assert (row.status, row.error_code, row.error_detail) == ("rejected", "missing_personalisation", "name")


def test_idempotency_key_replays_and_refuses_a_different_body(client, service, app):
    first = post(client, service, sms(recipients(3)), **{"Idempotency-Key": "advisory-42"})
    again = post(client, service, sms(recipients(3)), **{"Idempotency-Key": "advisory-42"})
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_rows(app) == (1, 3)
    other = post(client, service, sms(recipients(4)), **{"Idempotency-Key": "advisory-42"})
    assert other.status_code == 422
    assert other.json["error"]["details"]["field"] == "Idempotency-Key"
    assert count_rows(app) == (1, 3)


@pytest.mark.parametrize("payload,field,status", [
    ("{not json", "body", 400),
    ([1, 2], "body", 400),
    ({"channel": "sms", "body": "x", "recipients": []}, "recipients", 422),
    ({"channel": "sms", "body": "x", "recipients": "+260961000001"}, "recipients", 422),
    ({"channel": "sms", "body": "x"}, "recipients", 422),
    ({"channel": "pigeon", "body": "x", "recipients": [{"to": "+260961000001"}]}, "channel", 422),
    ({"channel": "sms", "body": 5, "recipients": [{"to": "+260961000001"}]}, "body", 422),
    ({"channel": "sms", "body": "x", "recipients": [{"to": 260961000001}]}, "recipients[0].to", 422),
    ({"channel": "sms", "body": "x", "recipients": [{"to": "+260961000001"}, "x"]}, "recipients[1]", 422),
    ({"channel": "sms", "body": "x", "recipients": [{"to": "+260961000001", "personalisation": [1]}]},
     "recipients[0].personalisation", 422),
    ({"channel": "sms", "body": "x", "rate_limit_per_second": -5, "recipients": [{"to": "+260961000001"}]},
     "rate_limit_per_second", 422),
    ({"channel": "sms", "body": "x", "scheduled_for": "yesterday", "recipients": [{"to": "+260961000001"}]},
     "scheduled_for", 422),
    ({"channel": "sms", "body": "x", "scheduled_for": "2020-01-01T08:00:00+02:00",
      "recipients": [{"to": "+260961000001"}]}, "scheduled_for", 422),
    ({"channel": "sms", "body": "x", "rate_limit_per_second": 1e9, "recipients": [{"to": "+260961000001"}]},
     "rate_limit_per_second", 422),
    ({"channel": "sms", "body": "x", "rate_limit_per_second": "fast", "recipients": [{"to": "+260961000001"}]},
     "rate_limit_per_second", 422),
    # Stored with three decimals, this would become a rate of 0.
    ({"channel": "sms", "body": "x", "rate_limit_per_second": 1e-10, "recipients": [{"to": "+260961000001"}]},
     "rate_limit_per_second", 422),
    # Unhashable values used to reach a set lookup and answer 500.
    ({"channel": "sms", "body": "x", "priority": ["normal"], "recipients": [{"to": "+260961000001"}]},
     "priority", 422),
    ({"channel": "sms", "body": "x", "priority": {"a": 1}, "recipients": [{"to": "+260961000001"}]},
     "priority", 422),
    # str.isalnum() is true for Arabic-Indic digits, which no carrier takes as a sender id.
    ({"channel": "sms", "body": "x", "sender": "\u0661\u0662\u0663", "recipients": [{"to": "+260961000001"}]},
     "sender", 422),
])
def test_bad_input_is_a_json_error_naming_the_field_and_writes_nothing(client, service, app, payload, field, status):
    data = payload if isinstance(payload, str) else json.dumps(payload)
    response = client.post("/v1/broadcasts", data=data,
                           headers={**service.headers, "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json["error"]["details"]["field"] == field
    assert response.json["error"]["message"]
    assert count_rows(app) == (0, 0)


def test_too_many_recipients_and_too_large_body(client, service, app, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_MAX_RECIPIENTS", 5)
    response = post(client, service, sms(recipients(6)))
    assert response.status_code == 413 and response.json["error"]["details"]["field"] == "recipients"
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = post(client, service, sms(recipients(4), body="x" * 1200))
    assert response.status_code == 413 and "error" in response.json
    assert count_rows(app) == (0, 0)


def test_wrong_content_type_is_rejected(client, service):
    response = client.post("/v1/broadcasts", data="to=1", headers={**service.headers,
                                                                  "Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.json["error"]["details"]["field"] == "Content-Type"


def test_csv_upload_personalises_from_columns(client, service, app):
    csv_text = "phone number,name\n+260961000001,Ada\n0971000002,Grace\n,\n"
    response = client.post("/v1/broadcasts", headers=service.headers, content_type="multipart/form-data", data={
        "channel": "sms", "body": "Hello ((name))", "file": (io.BytesIO(csv_text.encode()), "farmers.csv")})
    assert response.status_code == 202, response.json
    assert (response.json["accepted"], response.json["rejected"]) == (2, 0)
    csv_bad = "name\nAda\n"
    response = client.post("/v1/broadcasts", headers=service.headers, content_type="multipart/form-data", data={
        "channel": "sms", "body": "Hi", "file": (io.BytesIO(csv_bad.encode()), "x.csv")})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "file"


def test_another_services_broadcast_is_404(client, service, app):
    created = post(client, service, sms(recipients(2))).json
    other = make_service(app, "programme-b")
    assert client.get(f"/v1/broadcasts/{created['id']}", headers=other.headers).status_code == 404
    assert client.post(f"/v1/broadcasts/{created['id']}/pause", headers=other.headers).status_code == 404
    assert client.get(f"/v1/broadcasts/{created['id']}", headers=service.headers).status_code == 200
    assert client.get("/v1/broadcasts/not-a-uuid", headers=service.headers).status_code == 404


def test_summary_and_message_pages(client, service):
    created = post(client, service, sms(recipients(5) + [{"to": "bad"}])).json
    summary = client.get(f"/v1/broadcasts/{created['id']}", headers=service.headers).json
    assert summary["counts"]["pending"] == 5 and summary["counts"]["rejected"] == 1
    assert set(summary["carriers"]) >= {"MTN", "Airtel", "ZAMTEL"}
    page = client.get(f"/v1/broadcasts/{created['id']}/messages?status=pending&limit=2",
                      headers=service.headers).json
    assert len(page["messages"]) == 2 and page["next_after"] == page["messages"][-1]["id"]
    rest = client.get(f"/v1/broadcasts/{created['id']}/messages?status=pending&after={page['next_after']}",
                      headers=service.headers).json
    assert len(rest["messages"]) == 3 and rest["next_after"] is None
    bad = client.get(f"/v1/broadcasts/{created['id']}/messages?status=lost", headers=service.headers)
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "status"


def test_send_window_takes_the_recipients_zone_and_rejects_bad_values(client, service):
    created = post(client, service, {**sms(recipients(3)), "send_window": {"start": "08:00", "end": "20:00"}}).json
    assert created["send_window"] == {"start": "08:00", "end": "20:00", "timezone": "Africa/Lusaka"}
    for window, field in [({"start": "8am", "end": "20:00"}, "send_window.start"),
                          ({"start": "08:00", "end": "20:00", "timezone": "Mars/Olympus"}, "send_window.timezone"),
                          ("always", "send_window")]:
        response = post(client, service, {**sms(recipients(3)), "send_window": window})
        assert response.status_code == 422 and response.json["error"]["details"]["field"] == field
    mixed = [{"to": "+260961000001"}, {"to": "+254712345678"}]
    response = post(client, service, {**sms(mixed), "send_window": {"start": "08:00", "end": "20:00"}})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "send_window.timezone"


def test_report_csv_streams_every_recipient(client, service):
    created = post(client, service, sms(recipients(2500) + [{"to": "bad, \"quoted\""}])).json
    response = client.get(f"/v1/broadcasts/{created['id']}/report.csv", headers=service.headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    import csv as csv_module
    rows = list(csv_module.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "recipient", "carrier", "status"]
    assert len(rows) == 2502
    assert rows[-1][1] == 'bad, "quoted"' and rows[-1][3] == "rejected"
    assert {row[2] for row in rows[1:-1]} == {"MTN", "Airtel", "ZAMTEL"}
