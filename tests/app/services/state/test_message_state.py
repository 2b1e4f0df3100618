"""message_state against real PostgreSQL and Redis: claims given back unsent, retries pinned to their account."""
from __future__ import annotations

from decimal import Decimal

import pytest
from herald_testing import make_service, truncate_all
from routing_testing import claim_routes, close_breaker, open_breaker, post_routed_broadcast, routed_app
from sqlalchemy import text

from app.extensions import db
from app.models import Message
from app.services.sending import routing
from app.services.state import claims, outcomes
from app.services.sending.retry_policy import Policy, judge_batch
from providers.base import Accepted, UnknownOutcome


def test_a_released_transactional_claim_goes_back_to_pending_with_its_attempt(app, client, service):
    response = client.post("/v1/messages", headers=service.headers, json={"to": "+260971234567", "body": "1234"})
    assert response.status_code == 202
    message_id = response.json["id"]
    with app.app_context():
        claim = claims.claim_transactional(message_id, lease_seconds=30)
        assert [row.id for row in claim.rows] == [message_id]
        outcome = outcomes.BatchOutcome(claim.token, released=[message_id])
        outcomes.record_outcome(outcome)
        row = db.session.get(Message, message_id)
        assert (row.status, row.attempts, row.claim_token) == ("pending", 0, None)


@pytest.fixture(scope="module")
def app_with_routes(database_url, redis_url):
    """An app whose SMS goes over the carrier routes of routing_testing."""
    return routed_app(database_url, redis_url)


@pytest.fixture
def routed(app_with_routes, redis_url):
    """A clean store and a service key on the routed app."""
    truncate_all(app_with_routes, redis_url)
    return app_with_routes, make_service(app_with_routes, "pinned-programme")


def _unknown_outcome(claim, mid: int) -> None:
    """Record a 502 (outcome unknown) for `mid` and acceptance for the rest of the claim, as a key-honouring send would."""
    results = {r.id: Accepted(f"id-{r.id}") for r in claim.rows}
    results[mid] = UnknownOutcome("gateway_http_502", "proxy lost the answer")
    attempts = {r.id: r.attempts for r in claim.rows}
    policy = Policy(max_attempts=8, base_seconds=0.0, max_seconds=0.0)
    outcomes.record_outcome(judge_batch(claim.token, [r.id for r in claim.rows], results, attempts, True, policy))


def _due_since(mid: int, seconds: float) -> None:
    """Make a row due for `seconds` already."""
    db.session.execute(text("UPDATE messages SET next_attempt_at = now() - make_interval(secs => :s) WHERE id = :id"),
                       {"s": seconds, "id": mid})
    db.session.commit()


def _unknown_outcome_on(broadcast_id, plan, account: str) -> int:
    """Claim the MTN row onto `account` and record an unknown outcome for it; it is due again at once."""
    claim = claims.claim_batch(broadcast_id, 100, 30, [], plan)
    row = next(r for r in claim.rows if r.recipient == "+260961000001")
    assert row.provider == account
    _unknown_outcome(claim, row.id)
    _due_since(row.id, 0)
    return row.id


def _dead_letter(mid: int) -> tuple:
    """(message status, its account, dead-letter reason, error code)."""
    message = db.session.get(Message, mid)
    letter = db.session.execute(text("SELECT reason, error_code FROM dead_letters WHERE message_id = :id"),
                                {"id": mid}).one_or_none()
    return (message.status, message.provider, *(letter or (None, None)))


def test_a_retry_after_an_unknown_outcome_stays_on_its_account_while_it_is_down(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        mid = _unknown_outcome_on(broadcast_id, routing.plan("sms"), "mtn_direct")
        assert db.session.get(Message, mid).pinned
        db.session.rollback()
        open_breaker("mtn_direct")
        # The aggregator would take any other MTN row now; this one waits for mtn_direct.
        assert claim_routes(broadcast_id, routing.plan("sms")) == {}
        close_breaker("mtn_direct")
        assert claim_routes(broadcast_id, routing.plan("sms")) == {
            "+260961000001": ("mtn_direct", "mtn-direct", Decimal("0.1800"))}


def test_a_pinned_retry_whose_account_stays_down_is_dead_lettered_never_moved(routed):
    app, key = routed
    broadcast_id = post_routed_broadcast(app, key)
    with app.app_context():
        mid = _unknown_outcome_on(broadcast_id, routing.plan("sms"), "mtn_direct")
        open_breaker("mtn_direct")
        _due_since(mid, app.config["HERALD_PINNED_RETRY_WAIT_SECONDS"] + 1)
        claim = claims.claim_batch(broadcast_id, 100, 30, [], routing.plan("sms"))
        assert claim.rows == []
        assert _dead_letter(mid) == ("failed", "mtn_direct", "outcome_unknown", "account_down")
        assert claim.dead_letters
        db.session.rollback()


def test_a_pinned_transactional_message_waits_for_its_account_then_is_dead_lettered_never_moved(routed):
    app, key = routed
    response = app.test_client().post("/v1/messages", headers=key.headers, json={"to": "+260961000002",
                                                                                 "body": "Code 1234"})
    assert response.status_code == 202, response.json
    mid = response.json["id"]
    wait = app.config["HERALD_PINNED_RETRY_WAIT_SECONDS"]
    with app.app_context():
        claim = claims.claim_transactional(mid, 30, [], routing.plan("sms"))
        assert [row.provider for row in claim.rows] == ["mtn_direct"]
        _unknown_outcome(claim, mid)
        assert db.session.get(Message, mid).pinned
        db.session.rollback()
        open_breaker("mtn_direct")
        # Due for less than the wait: it waits, unclaimed, on its own account.
        _due_since(mid, wait - 5)
        waiting = claims.claim_transactional(mid, 30, [], routing.plan("sms"))
        assert (waiting.rows, waiting.dead_letters) == ([], [])
        assert _dead_letter(mid) == ("pending", "mtn_direct", None, None)
        db.session.rollback()
        _due_since(mid, wait + 1)
        expired = claims.claim_transactional(mid, 30, [], routing.plan("sms"))
        assert expired.rows == [] and len(expired.dead_letters) == 1
        assert _dead_letter(mid) == ("failed", "mtn_direct", "outcome_unknown", "account_down")
        db.session.rollback()
        # The account comes back: the dead letter stands, and nothing claims the message again.
        close_breaker("mtn_direct")
        again = claims.claim_transactional(mid, 30, [], routing.plan("sms"))
        assert (again.rows, again.dead_letters) == ([], [])
        db.session.rollback()
