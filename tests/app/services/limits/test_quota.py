"""Per-account daily quotas of routed sends, reserved in the routed claim, against real PostgreSQL and Redis."""
from __future__ import annotations

import json

import pytest
from herald_testing import make_service, truncate_all
from sqlalchemy import text

from app import create_app
from app.config_checks import ConfigurationError
from app.extensions import db
from app.services.limits import quota
from app.services.channels import routes
from app.services.sending import routing
from app.services.state import claims, outcomes

ACCOUNT = {"provider": "africastalking", "base_url": "http://127.0.0.1:9", "username": "sandbox",
           "api_key": "sandbox-key", "webhook_secret": "route-secret"}
ACCOUNTS = {name: ACCOUNT for name in ("mtn_direct", "aggregator")}
ROUTES = [
    {"name": "mtn-direct", "country": "ZM", "carrier": "MTN", "account": "mtn_direct", "price": "0.18", "priority": 1},
    {"name": "mtn-aggregator", "country": "ZM", "carrier": "MTN", "account": "aggregator", "price": "0.25",
     "priority": 2},
    {"name": "default", "account": "aggregator", "price": "0.30"},
]
MTN = [f"+26096100000{i}" for i in range(3)]
ZAMTEL = [f"+26095100000{i}" for i in range(2)]


def _app(database_url, redis_url, quotas: str):
    """A routed app with these provider quotas."""
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                       "HERALD_WEBHOOK_SECRET": "test-secret", "HERALD_ACCOUNTS": json.dumps(ACCOUNTS),
                       "HERALD_SMS_PROVIDER": "aggregator", "HERALD_ROUTES": json.dumps(ROUTES),
                       "HERALD_PROVIDER_DAILY_QUOTAS": quotas})


@pytest.fixture
def limited(database_url, redis_url):
    """Two MTN sends left on mtn_direct, two on the aggregator; a clean store and a broadcast of five."""
    app = _app(database_url, redis_url, "mtn_direct=2,aggregator=2")
    truncate_all(app, redis_url)
    key = make_service(app, "quota-programme")
    response = app.test_client().post("/v1/broadcasts", headers=key.headers, json={
        "channel": "sms", "body": "Rains", "recipients": [{"to": n} for n in MTN + ZAMTEL],
        "scheduled_for": "2099-01-01T00:00:00Z"})
    assert response.status_code == 202, response.json
    return app, key, response.json["id"]


def _claim(app, key, broadcast_id) -> claims.Claim:
    """One routed claim with the broadcast's quotas, as the send task makes it."""
    scopes = quota.scopes_for(key.service_id, routes.ROUTED)
    return claims.claim_batch(broadcast_id, 100, 30, scopes, routing.plan("sms"))


def _used() -> dict[str, int]:
    """Quota used per scope now."""
    return dict(db.session.execute(text("SELECT scope, used FROM quota_windows")).all())


def test_each_account_takes_exactly_its_quota_and_a_spent_one_is_passed_over(limited):
    app, key, broadcast_id = limited
    with app.app_context():
        first = _claim(app, key, broadcast_id)
        assert sorted((r.provider, r.recipient in MTN) for r in first.rows) == [
            ("aggregator", False), ("aggregator", False), ("mtn_direct", True), ("mtn_direct", True)]
        assert _used() == {"provider:mtn_direct": 2, "provider:aggregator": 2}
        assert _claim(app, key, broadcast_id).rows == []
        assert quota.remaining(quota.scopes_for(key.service_id, routes.ROUTED)) == 0


def test_a_row_the_gateway_did_not_take_gives_its_accounts_quota_back(limited):
    app, key, broadcast_id = limited
    with app.app_context():
        first = _claim(app, key, broadcast_id)
        given_back = next(r.id for r in first.rows if r.provider == "mtn_direct")
        outcome = outcomes.BatchOutcome(first.token, scopes=first.scopes, released=[given_back])
        outcomes.record_outcome(outcome)
        assert _used() == {"provider:mtn_direct": 1, "provider:aggregator": 2}
        again = _claim(app, key, broadcast_id)
        assert [r.provider for r in again.rows] == ["mtn_direct"]
        assert _used()["provider:mtn_direct"] == 2


def test_a_quota_for_an_unknown_account_stops_startup_naming_it(database_url, redis_url):
    with pytest.raises(ConfigurationError, match="HERALD_PROVIDER_DAILY_QUOTAS: quota for unknown account 'mtn'"):
        _app(database_url, redis_url, "mtn=5")
