"""HERALD_MAX_BODY_CHARS holds for what each recipient receives, not only for the template."""
from __future__ import annotations

from herald_testing import post_json, sms
from sqlalchemy import select

from app.extensions import db
from app.models import Message
from app.services.content.templates import compile_template


def test_a_recipient_whose_personalised_text_is_too_long_is_rejected_with_a_reason(client, service, app,
                                                                                    monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_MAX_BODY_CHARS", 40)
    body = "Hello ((name)), rain from ((day))."  # 19 literal characters
    payload = sms([{"to": "+260961000001", "personalisation": {"name": "Ada", "day": "Monday"}},
                   {"to": "+260961000002", "personalisation": {"name": "A" * 100, "day": "Monday"}},
                   {"to": "+260961000003", "personalisation": {"name": "B" * 15, "day": "Monday"}}], body=body)
    response = post_json(client, service, "/v1/broadcasts", payload)
    assert response.status_code == 202
    assert (response.json["accepted"], response.json["rejected"]) == (2, 1)
    with app.app_context():
        rows = {m.recipient: m for m in db.session.scalars(select(Message))}
    too_long = rows["+260961000002"]
    assert (too_long.status, too_long.error_code) == ("rejected", "message_too_long")
    assert too_long.error_detail == "125 characters; the limit is 40"
    assert rows["+260961000003"].status == "pending"  # exactly 40


def test_thirty_segments_of_personalisation_cannot_slip_through(client, service, app):
    limit = app.config["HERALD_MAX_BODY_CHARS"]
    payload = sms([{"to": "+260961000001", "personalisation": {"name": "x" * (153 * 30)}}], body="Hi ((name))")
    response = post_json(client, service, "/v1/broadcasts", payload)
    assert response.status_code == 202 and response.json["accepted"] == 0
    with app.app_context():
        row = db.session.scalar(select(Message))
    assert row.error_code == "message_too_long" and f"the limit is {limit}" in row.error_detail


def test_fill_measures_what_render_builds_and_names_what_is_missing():
    template = compile_template("Dear ((name)), ((n)) bags at ((depot)).")
    for values in ({"name": "Chanda", "n": 3, "depot": "Mkushi"}, {"name": "Ada", "n": [1, 2], "depot": "é" * 40}):
        assert template.fill(values) == ([], len(template.render(values)))
    assert template.fill({"name": "", "n": None})[0] == ["name", "n", "depot"]
    assert template.fill(None)[0] == ["name", "n", "depot"]
    assert compile_template("static").fill({"x": "y" * 99}) == ([], len("static"))

