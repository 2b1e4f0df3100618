"""Routes against real PostgreSQL and Redis: parsing, the claim's choice per carrier, failover, cost."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from herald_testing import make_service, truncate_all
from routing_testing import (ACCOUNT, ACCOUNTS, NUMBERS, REGION_NUMBERS, REGION_ROUTES, claim_routes, close_breaker,
                             open_breaker, post_routed_broadcast, routed_app)

from app import create_app
from app.config_checks import ConfigurationError
from app.extensions import db
from app.models import Broadcast, Message
from app.services.reports import reporting
from app.services.channels import routes
from app.services.sending import routing
from app.services.state import claims, outcomes


@pytest.fixture(scope="module")
def app_with_routes(database_url, redis_url):
    """An app whose SMS goes over the carrier routes of routing_testing."""
    return routed_app(database_url, redis_url)


@pytest.fixture
def routed(app_with_routes, redis_url):
    """A clean store and a service key on the routed app."""
    truncate_all(app_with_routes, redis_url)
    return app_with_routes, make_service(app_with_routes, "routed-programme")


def test_each_carrier_takes_its_first_route_and_the_rest_the_catch_all(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        assert db.session.get(Broadcast, broadcast_id).provider == routes.ROUTED
        chosen = claim_routes(broadcast_id, routing.plan("sms"))
    assert chosen == {"+260961000001": ("mtn_direct", "mtn-direct", Decimal("0.1800")),
                      "+260971000001": ("airtel_direct", "airtel-direct", Decimal("0.1700")),
                      "+260951000001": ("aggregator", "default", Decimal("0.3000"))}


def test_an_open_breaker_moves_the_next_claim_to_the_next_route(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        open_breaker("mtn_direct")
        open_breaker("airtel_direct")
        chosen = claim_routes(broadcast_id, routing.plan("sms"))
    assert chosen["+260961000001"][:2] == ("aggregator", "mtn-aggregator")
    assert chosen["+260971000001"][:2] == ("backup", "airtel-backup")


def test_a_carrier_whose_every_route_is_down_waits_unclaimed_with_its_attempt(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        open_breaker("airtel_direct")
        open_breaker("backup")
        chosen = claim_routes(broadcast_id, routing.plan("sms"))
        assert set(chosen) == {"+260961000001", "+260951000001"}
        waiting = db.session.query(Message).filter_by(recipient="+260971000001").one()
        assert (waiting.status, waiting.attempts, waiting.provider) == ("pending", 0, None)
        db.session.rollback()
        # Its breaker closes (a probe got through): the next claim takes it.
        close_breaker("airtel_direct")
        assert claim_routes(broadcast_id, routing.plan("sms")) == {
            "+260971000001": ("airtel_direct", "airtel-direct", Decimal("0.1700"))}


def test_a_gateway_that_reports_no_cost_is_charged_the_route_price_and_reported_per_route(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        claim = claims.claim_batch(broadcast_id, 100, 30, [], routing.plan("sms"))
        outcome = outcomes.BatchOutcome(claim.token)
        for row in claim.rows:
            reported = Decimal("0.2200") if row.route == "default" else None
            outcome.sent.append((row.id, f"id-{row.id}", reported, "ZMW" if reported else None, 2))
        outcomes.record_outcome(outcome)
        costs = {m.recipient: (m.cost, m.currency) for m in db.session.query(Message).filter_by(
            broadcast_id=broadcast_id)}
        summary = reporting.summary(db.session.get(Broadcast, broadcast_id))
    assert costs == {"+260961000001": (Decimal("0.3600"), "ZMW"), "+260971000001": (Decimal("0.3400"), "ZMW"),
                     "+260951000001": (Decimal("0.2200"), "ZMW")}
    assert {name: (v["accepted"], v["cost"]) for name, v in summary["routes"].items()} == {
        "mtn-direct": (1, "0.3600"), "airtel-direct": (1, "0.3400"), "default": (1, "0.2200")}
    assert {name: v["total"] for name, v in summary["accounts"].items()} == {
        "mtn_direct": 1, "airtel_direct": 1, "aggregator": 1}
    csv = app.test_client().get(f"/v1/broadcasts/{broadcast_id}/report.csv", headers=key.headers).get_data(True)
    header, *lines = csv.strip().splitlines()
    assert header.split(",")[-2:] == ["route", "provider"]
    assert sorted(tuple(line.split(",")[-2:]) for line in lines) == [
        ("airtel-direct", "airtel_direct"), ("default", "aggregator"), ("mtn-direct", "mtn_direct")]


def test_a_routed_dry_run_prices_each_carrier_at_its_first_route(routed):
    app, key = routed
    response = app.test_client().post("/v1/broadcasts", headers=key.headers, json={
        "channel": "sms", "body": "Rains from Monday", "dry_run": True, "recipients": [{"to": n} for n in NUMBERS]})
    assert response.status_code == 200, response.json
    by_carrier = response.json["cost"]["by_carrier"]
    assert {c: v["price_per_segment"] for c, v in by_carrier.items()} == {
        "MTN": "0.18", "Airtel": "0.17", "ZAMTEL": "0.30"}


def test_a_routed_transactional_message_is_claimed_onto_its_carriers_route(routed):
    app, key = routed
    client = app.test_client()
    response = client.post("/v1/messages", headers=key.headers, json={"to": "+260961000002", "body": "Code 1234"})
    assert response.status_code == 202, response.json
    with app.app_context():
        open_breaker("mtn_direct")
        claim = claims.claim_transactional(response.json["id"], 30, [], routing.plan("sms"))
        assert [(row.provider) for row in claim.rows] == ["aggregator"]
        assert db.session.get(Message, response.json["id"]).route == "mtn-aggregator"
        db.session.rollback()


@pytest.mark.parametrize("routes, named", [
    ([{"name": "x", "account": "nowhere", "price": "0.1"}], "unknown account 'nowhere'"),
    ([{"name": "x", "account": "aggregator", "price": "0.1", "carrier": "MTN"}], "needs a catch-all route"),
    ([{"name": "x", "account": "aggregator", "price": "cheap"}], "'price'"),
    ([{"name": "x", "account": "aggregator", "price": "-1"}], "'price' must be zero or more"),
    ([{"name": "x", "account": "aggregator", "price": "0.1", "country": "Zambia"}], "country 'ZAMBIA'"),
    ([{"name": "x", "account": "aggregator", "price": "0.1", "priority": "first"}], "'priority'"),
    ([{"name": "x", "account": "aggregator", "price": "0.1", "cost": 1}], "unknown field(s) ['cost']"),
    ([{"name": "x", "account": "aggregator", "price": "0.1"}] * 2, "route names must be unique"),
    ({"name": "x"}, "non-empty JSON list"),
])
def test_a_bad_route_table_stops_startup_naming_the_route_and_field(database_url, redis_url, routes, named):
    with pytest.raises(ConfigurationError) as refused:
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                    "HERALD_ACCOUNTS": json.dumps(ACCOUNTS), "HERALD_SMS_PROVIDER": "aggregator",
                    "HERALD_ROUTES": json.dumps(routes)})
    assert "HERALD_ROUTES" in str(refused.value) and named in str(refused.value)


def test_the_routed_pseudo_account_name_is_reserved(database_url, redis_url):
    with pytest.raises(ConfigurationError, match="reserved"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                    "HERALD_ACCOUNTS": json.dumps({routes.ROUTED: ACCOUNT}), "HERALD_SMS_PROVIDER": routes.ROUTED})


@pytest.fixture
def region_routed(database_url, redis_url):
    """An app routing Canada and Guernsey apart from the rest of +1 and +44, on a clean store."""
    app = routed_app(database_url, redis_url, REGION_ROUTES)
    truncate_all(app, redis_url)
    return app, make_service(app, "region-programme")


def test_routes_match_the_recipients_region_not_its_calling_code(region_routed):
    app, key = region_routed
    response = app.test_client().post("/v1/broadcasts", headers=key.headers, json={
        "channel": "sms", "body": "Hello", "recipients": [{"to": n} for n in REGION_NUMBERS],
        "scheduled_for": "2099-01-01T00:00:00Z"})
    assert response.status_code == 202, response.json
    with app.app_context():
        stored = {m.recipient: m.region for m in db.session.query(Message)}
        chosen = claim_routes(response.json["id"], routing.plan("sms"))
    assert stored == REGION_NUMBERS
    assert {n: v[1] for n, v in chosen.items()} == {"+12015550123": "default", "+15062345678": "canada",
                                                     "+447400123456": "default", "+447781123456": "guernsey"}


def test_a_transactional_message_and_a_preview_take_the_route_of_their_region(region_routed):
    app, key = region_routed
    response = app.test_client().post("/v1/messages", headers=key.headers, json={"to": "+12015550123", "body": "Hi"})
    assert response.status_code == 202, response.json
    with app.app_context():
        claim = claims.claim_transactional(response.json["id"], 30, [], routing.plan("sms"))
        assert [row.provider for row in claim.rows] == ["aggregator"]
        assert db.session.get(Message, response.json["id"]).route == "default"
        db.session.rollback()
        assert routes.first_route("sms", "+15062345678", None).name == "canada"
        assert routes.first_route("sms", "+12015550123", None).name == "default"


def test_a_route_naming_a_region_phonenumbers_does_not_know_stops_startup_naming_it(database_url, redis_url):
    routes = [{"name": "x", "account": "aggregator", "price": "0.1", "country": "XK1"},
              {"name": "default", "account": "aggregator", "price": "0.1"}]
    with pytest.raises(ConfigurationError, match="HERALD_ROUTES: route 'x': country 'XK1' is not a region"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                    "HERALD_ACCOUNTS": json.dumps(ACCOUNTS), "HERALD_SMS_PROVIDER": "aggregator",
                    "HERALD_ROUTES": json.dumps(routes)})
