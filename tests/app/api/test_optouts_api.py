"""Opt-outs: the API, the inbound STOP/START webhook, the audit trail, and intake's opted_out."""
from __future__ import annotations

import itertools

from herald_testing import make_service, post_json, recipients

from app.extensions import db
from app.models import Message

INBOUND = "/webhooks/africastalking/test-secret/inbound"


_IDS = itertools.count(1)


def inbound(client, sender, text, to="12345", inbound_id=None, date=None):
    """Post an Africa's Talking inbound SMS (a fresh id and a later time each, unless given)."""
    number = next(_IDS)
    return client.post(INBOUND, data={
        "from": sender, "to": to, "text": text, "id": inbound_id or f"in-{number}", "linkId": "link-1",
        "date": date or f"2026-12-02 00:{number // 60 % 60:02d}:{number % 60:02d}"})


def action(response):
    """The keyword's action as the webhook answered it."""
    assert response.status_code == 200, response.json
    return response.json["action"]


def listed(client, service):
    """The service's suppressed addresses."""
    return [row["address"] for row in client.get("/v1/opt-outs", headers=service.headers).json["opt_outs"]]


def test_add_list_and_remove_through_the_api(client, service):
    assert post_json(client, service, "/v1/opt-outs", {"address": "0961000001", "reason": "asked by phone"}
                     ).status_code == 201
    assert post_json(client, service, "/v1/opt-outs", {"address": "+260961000001"}).status_code == 200
    assert listed(client, service) == ["+260961000001"]
    removed = client.delete("/v1/opt-outs", json={"address": "+260961000001"}, headers=service.headers)
    assert removed.status_code == 200 and listed(client, service) == []
    assert client.delete("/v1/opt-outs", json={"address": "+260961000001"},
                         headers=service.headers).status_code == 404
    history = client.get("/v1/opt-outs?address=%2B260961000001", headers=service.headers).json["history"]
    # Changes only: the repeated add and the refused removal changed nothing and are not in the trail.
    assert [(h["action"], h["source"]) for h in history] == [("opt_in", "api"), ("opt_out", "api")]
    assert history[-1]["detail"] == "asked by phone"


def test_inbound_stop_in_english_bemba_or_nyanja_opts_out_and_start_opts_back_in(client, service, app):
    app.config["HERALD_INBOUND_SERVICES"] = f"*={service.service_id}"
    try:
        assert action(inbound(client, "+260961000001", "stop", inbound_id="in-1")) == "opt_out"
        assert action(inbound(client, "+260971000002", "Leka.")) == "opt_out"
        assert action(inbound(client, "+260951000003", "SIYA please")) == "opt_out"
        assert action(inbound(client, "+260951000004", "when is the rain?")) is None
        assert sorted(listed(client, service)) == ["+260951000003", "+260961000001", "+260971000002"]
        assert action(inbound(client, "+260961000001", "START")) == "opt_in"
        assert sorted(listed(client, service)) == ["+260951000003", "+260971000002"]
        history = client.get("/v1/opt-outs?address=%2B260961000001", headers=service.headers).json["history"]
        assert [h["action"] for h in history] == ["opt_in", "opt_out"]
        assert history[1]["source"] == "africastalking:in-1" and history[1]["actor"] == "inbound:africastalking"
    finally:
        app.config["HERALD_INBOUND_SERVICES"] = ""


def test_inbound_needs_the_secret_and_a_known_destination(client, service, app):
    bad = client.post("/webhooks/africastalking/wrong/inbound", data={"from": "+260961000001", "text": "STOP"})
    assert bad.status_code == 403
    unmapped = inbound(client, "+260961000001", "STOP")  # no service routed: 200, nothing changed
    assert unmapped.status_code == 200 and unmapped.json["outcome"] == "unmapped"
    assert listed(client, service) == []


def test_intake_marks_suppressed_recipients_opted_out(client, service, app):
    post_json(client, service, "/v1/opt-outs", {"address": "+260961000000"})
    other = make_service(app, "programme-b")
    post_json(client, other, "/v1/opt-outs", {"address": "+260971000001"})  # another service's list
    response = post_json(client, service, "/v1/broadcasts",
                         {"channel": "sms", "body": "Rain", "recipients": recipients(3)})
    assert response.json["accepted"] == 2
    with app.app_context():
        statuses = {m.recipient: m.status for m in db.session.query(Message)}
    assert statuses == {"+260961000000": "opted_out", "+260971000001": "pending", "+260951000002": "pending"}
    audit = client.get(f"/v1/broadcasts/{response.json['id']}/audit", headers=service.headers).json["audit"]
    assert audit[0]["details"]["opted_out"] == 1


def test_an_optional_confirmation_goes_out_on_the_fast_lane_once(client, service, app):
    app.config.update(HERALD_INBOUND_SERVICES=f"*={service.service_id}",
                      HERALD_OPTOUT_REPLY="You will get no more messages. Send START to resubscribe.")
    try:
        inbound(client, "+260961000001", "STOP", inbound_id="in-stop")
        replay = inbound(client, "+260961000001", "STOP", inbound_id="in-stop")  # the same callback again
        assert replay.json["outcome"] == "duplicate"
        inbound(client, "+260961000001", "START")  # no opt-in reply configured
    finally:
        app.config.update(HERALD_INBOUND_SERVICES="", HERALD_OPTOUT_REPLY="")
    with app.app_context():
        rows = db.session.query(Message).filter(Message.broadcast_id.is_(None)).all()
    assert [(m.recipient, m.body) for m in rows] == [
        ("+260961000001", "You will get no more messages. Send START to resubscribe.")]
