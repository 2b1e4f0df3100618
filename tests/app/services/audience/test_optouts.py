"""A claimed batch drops recipients who opted out after intake, in one query, through state.claims."""
from __future__ import annotations

from herald_testing import post_json, recipients

from app.extensions import db
from app.models import Message
from app.services.audience import optouts
from app.services.reports import inbound
from app.services.state import claims


def test_a_claimed_batch_drops_recipients_who_opted_out_since_intake(client, service, app):
    response = post_json(client, service, "/v1/broadcasts", {"channel": "sms", "body": "Rain",
                                                             "recipients": recipients(4)})
    bid = response.json["id"]
    with app.app_context():
        optouts.opt_out(service.service_id, "sms", "+260971000001", source="test", actor="test")
        claim = claims.claim_batch(bid, 10, 60)
        remaining = optouts.drop_suppressed(claim, service.service_id, "sms")
        assert sorted(r.recipient for r in remaining) == ["+260761000003", "+260951000002", "+260961000000"]
        row = db.session.query(Message).filter_by(recipient="+260971000001").one()
        assert (row.status, row.attempts, row.claim_token) == ("opted_out", 0, None)


def test_keywords_match_the_first_word_only():
    words = inbound.Keywords(frozenset({"STOP", "LEKA"}), frozenset({"START"}))
    assert words.action_for("  leka!") == "opt_out"
    assert words.action_for("Please stop") is None
    assert words.action_for("Start") == "opt_in"
    assert words.action_for("") is None


def test_inbound_routes():
    assert inbound.inbound_service("12345=1,*=2", "12345") == 1
    assert inbound.inbound_service("12345=1,*=2", "999") == 2
    assert inbound.inbound_service("12345=1", "999") is None
