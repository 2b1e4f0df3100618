"""Factories for routed-send tests: an app with carrier routes, a broadcast to one number per carrier, breakers."""
from __future__ import annotations

import json

from app import create_app
from app.extensions import db
from app.models import Message
from app.redis_store import get_redis
from app.services.sending import breaker
from app.services.state import call_journal, claims

ACCOUNT = {"provider": "africastalking", "base_url": "http://127.0.0.1:9", "username": "sandbox",
           "api_key": "sandbox-key", "webhook_secret": "route-secret"}
ACCOUNTS = {name: ACCOUNT for name in ("mtn_direct", "airtel_direct", "aggregator", "backup")}
ROUTES = [
    {"name": "mtn-direct", "country": "ZM", "carrier": "MTN", "account": "mtn_direct", "price": "0.18", "priority": 1},
    {"name": "mtn-aggregator", "country": "ZM", "carrier": "MTN", "account": "aggregator", "price": "0.25",
     "priority": 2},
    {"name": "airtel-direct", "country": "ZM", "carrier": "Airtel", "account": "airtel_direct", "price": "0.17"},
    # Same priority as the direct route but dearer: tried second.
    {"name": "airtel-backup", "country": "ZM", "carrier": "Airtel", "account": "backup", "price": "0.30"},
    {"name": "default", "account": "aggregator", "price": "0.30"},
]
# One number per carrier: MTN (96), Airtel (97), Zamtel (95, caught by the default route).
NUMBERS = {"+260961000001": "MTN", "+260971000001": "Airtel", "+260951000001": "ZAMTEL"}

REGION_ROUTES = [{"name": "canada", "country": "CA", "account": "mtn_direct", "price": "0.05"},
                 {"name": "guernsey", "country": "GG", "account": "airtel_direct", "price": "0.07"},
                 {"name": "default", "account": "aggregator", "price": "0.30"}]
# Numbers sharing a calling code across regions: +1 (US, CA) and +44 (GB, GG).
REGION_NUMBERS = {"+12015550123": "US", "+15062345678": "CA", "+447400123456": "GB", "+447781123456": "GG"}


def routed_app(database_url: str, redis_url: str, routes: list[dict] = ROUTES):
    """An app whose SMS goes over `routes` (the carrier routes above by default)."""
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                       "HERALD_WEBHOOK_SECRET": "test-secret", "HERALD_ACCOUNTS": json.dumps(ACCOUNTS),
                       "HERALD_SMS_PROVIDER": "aggregator", "HERALD_ROUTES": json.dumps(routes)})


def post_routed_broadcast(app, key) -> str:
    """A scheduled broadcast to one number per carrier (no tick claims it); returns its id."""
    response = app.test_client().post("/v1/broadcasts", headers=key.headers, json={
        "channel": "sms", "body": "Rains from Monday", "recipients": [{"to": n} for n in NUMBERS],
        "scheduled_for": "2099-01-01T00:00:00Z"})
    assert response.status_code == 202, response.json
    return response.json["id"]


def claim_routes(broadcast_id, plan) -> dict[str, tuple]:
    """Claim the broadcast's due rows under `plan`: {number: (provider, route, price)}."""
    claim = claims.claim_batch(broadcast_id, 100, 30, [], plan)
    rows = {row.recipient: row for row in claim.rows}
    stored = {m.recipient: (m.provider, m.route, m.price) for m in db.session.query(Message).filter(
        Message.id.in_([row.id for row in claim.rows]))}
    db.session.rollback()
    assert {n: (r.provider, r.route) for n, r in rows.items()} == {n: v[:2] for n, v in stored.items()}
    return stored


def open_breaker(account: str) -> None:
    """Open an account's breaker as the send path would, and forget this process's cached copy."""
    get_redis().set(call_journal.breaker_key(account), breaker.DOWN)
    breaker.forget_local()


def close_breaker(account: str) -> None:
    """Close an account's breaker as a probe that got through would."""
    get_redis().delete(call_journal.breaker_key(account))
    breaker.forget_local()
