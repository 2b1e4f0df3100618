"""The region backfill against real PostgreSQL: rows stored before regions were kept, then routed by region."""
from __future__ import annotations

import logging

import pytest
from herald_testing import make_service, truncate_all
from routing_testing import REGION_NUMBERS, REGION_ROUTES, claim_routes, routed_app
from sqlalchemy import text

from app.extensions import db
from app.services.control import region_backfill
from app.services.sending import routing

# +260 is Zambia's alone: a row without a region still finds the Zambian route by calling code.
ROUTES = [{"name": "zambia", "country": "ZM", "account": "backup", "price": "0.10"}, *REGION_ROUTES]
LEGACY = {**REGION_NUMBERS, "+260961000001": "ZM"}
# A valid number that is no mobile's (international freephone): phonenumbers places it nowhere.
NOWHERE = "+80012345678"
DELIVERED = "+260971000001"
CONTACTS = {"c-us": "+12015550124", "c-ca": "+15062345679", "c-zm": "+260961000002"}


@pytest.fixture(scope="module")
def app_with_regions(database_url, redis_url):
    """An app routing Zambia, Canada and Guernsey apart, the rest to the catch-all."""
    return routed_app(database_url, redis_url, ROUTES)


@pytest.fixture
def legacy(app_with_regions, redis_url):
    """A scheduled broadcast and contacts stored as before regions were kept; (app, broadcast id)."""
    app = app_with_regions
    truncate_all(app, redis_url)
    key = make_service(app, "legacy-programme")
    response = app.test_client().post("/v1/broadcasts", headers=key.headers, json={
        "channel": "sms", "body": "Hello", "recipients": [{"to": n} for n in [*LEGACY, DELIVERED]],
        "scheduled_for": "2099-01-01T00:00:00Z"})
    assert response.status_code == 202, response.json
    broadcast_id = response.json["id"]
    with app.app_context():
        db.session.execute(text("UPDATE messages SET region = NULL"))
        db.session.execute(text("UPDATE messages SET status = 'delivered' WHERE recipient = :r"), {"r": DELIVERED})
        db.session.execute(text("INSERT INTO messages (broadcast_id, service_id, recipient, status) "
                                "VALUES (:bid, :sid, :to, 'pending')"),
                           {"bid": broadcast_id, "sid": key.service_id, "to": NOWHERE})
        for external_id, phone in CONTACTS.items():
            db.session.execute(text("INSERT INTO contacts (service_id, external_id, phone) VALUES (:sid, :e, :p)"),
                               {"sid": key.service_id, "e": external_id, "p": phone})
        db.session.execute(text("INSERT INTO contacts (service_id, external_id, phone, phone_error) "
                                "VALUES (:sid, 'c-bad', '+2609', 'invalid_number')"), {"sid": key.service_id})
        db.session.commit()
    return app, broadcast_id


def _regions() -> tuple[dict, dict]:
    """(messages' region by recipient, contacts' region by external id), and the row versions behind them."""
    messages = {r.recipient: (r.region, r.xmin) for r in db.session.execute(
        text("SELECT recipient, region, xmin::text AS xmin FROM messages"))}
    contacts = {r.external_id: (r.phone_region, r.xmin) for r in db.session.execute(
        text("SELECT external_id, phone_region, xmin::text AS xmin FROM contacts"))}
    db.session.rollback()
    return messages, contacts


def _routes(broadcast_id) -> dict[str, str]:
    """The route a claim now gives each due row of the broadcast."""
    return {number: chosen[1] for number, chosen in claim_routes(broadcast_id, routing.plan("sms")).items()}


def test_before_the_backfill_a_shared_calling_code_takes_only_the_catch_all(legacy):
    app, broadcast_id = legacy
    with app.app_context():
        assert _routes(broadcast_id) == {"+12015550123": "default", "+15062345678": "default",
                                         "+447400123456": "default", "+447781123456": "default",
                                         "+260961000001": "zambia", NOWHERE: "default"}


def test_the_backfill_gives_each_row_its_region_and_a_ca_route_takes_no_us_number(legacy):
    app, broadcast_id = legacy
    with app.app_context():
        assert region_backfill.missing() == {"messages": 6, "contacts": 3}
        done = region_backfill.backfill(batch_size=2, max_seconds=30)
        messages, contacts = _regions()
        assert region_backfill.missing() == {"messages": 0, "contacts": 0}
        chosen = _routes(broadcast_id)
    assert (done.read, done.filled, done.timed_out) == ({"messages": 6, "contacts": 3},
                                                        {"messages": 6, "contacts": 3}, False)
    assert done.unplaceable == {"messages": 1, "contacts": 0}
    assert {to: region for to, (region, _v) in messages.items()} == {**LEGACY, NOWHERE: "ZZ", DELIVERED: None}
    assert {c: region for c, (region, _v) in contacts.items()} == {"c-us": "US", "c-ca": "CA", "c-zm": "ZM",
                                                                    "c-bad": None}
    assert chosen == {"+12015550123": "default", "+15062345678": "canada", "+447400123456": "default",
                      "+447781123456": "guernsey", "+260961000001": "zambia", NOWHERE: "default"}


def test_running_it_twice_changes_nothing(legacy):
    app, _broadcast_id = legacy
    with app.app_context():
        region_backfill.backfill(batch_size=1000, max_seconds=30)
        before = _regions()
        again = region_backfill.backfill(batch_size=1000, max_seconds=30)
        after = _regions()
    assert again.read == again.filled == {"messages": 0, "contacts": 0}
    assert after == before  # same regions, same row versions: not one row rewritten


def test_a_row_held_by_a_claim_is_skipped_not_waited_for_and_filled_by_a_rerun(legacy):
    app, _broadcast_id = legacy
    with app.app_context():
        with db.engine.connect() as claim:
            claim.execute(text("SELECT id FROM messages WHERE recipient = '+15062345678' FOR UPDATE"))
            held = region_backfill.backfill(batch_size=2, max_seconds=30)
            assert region_backfill.missing() == {"messages": 1, "contacts": 0}
            claim.rollback()
        rerun = region_backfill.backfill(batch_size=2, max_seconds=30)
        messages, _contacts = _regions()
    assert held.filled["messages"] == 5 and rerun.filled["messages"] == 1
    assert messages["+15062345678"][0] == "CA"


def test_the_command_checks_backfills_and_refuses_a_bad_batch_size(legacy):
    app, _broadcast_id = legacy
    runner = app.test_cli_runner()
    check = runner.invoke(args=["herald", "backfill-regions", "--check"])
    assert check.exit_code == 1 and "without a region: 6 message(s), 3 contact(s)" in check.output
    for bad in (["--batch-size", "0"], ["--batch-size", "10001"], ["--batch-size", "many"], ["--max-seconds", "0"]):
        refused = runner.invoke(args=["herald", "backfill-regions", *bad])
        assert refused.exit_code == 2 and bad[0] in refused.output, refused.output
    done = runner.invoke(args=["herald", "backfill-regions", "--batch-size", "2"])
    assert done.exit_code == 0, done.output
    assert "messages: 6 given a region (1 that phonenumbers cannot place got ZZ" in done.output
    assert "without a region: 0 message(s), 0 contact(s)" in done.output
    with app.app_context(), pytest.raises(ValueError, match="batch size must be between 1 and 10000"):
        region_backfill.backfill(batch_size=0, max_seconds=30)


def test_workers_warn_at_startup_while_rows_lack_a_region(legacy, caplog):
    app, _broadcast_id = legacy
    with app.app_context(), caplog.at_level(logging.WARNING, logger="app.services.control.region_backfill"):
        region_backfill.warn_if_missing()
        assert "6 message(s) and 3 contact(s) were stored before regions were kept" in caplog.text
        assert "flask herald backfill-regions" in caplog.text
        caplog.clear()
        region_backfill.backfill(batch_size=1000, max_seconds=30)
        region_backfill.warn_if_missing()
        assert caplog.text == ""
