"""The lease reaper against real PostgreSQL and Redis: a dead worker's claim settled from its journal."""
from __future__ import annotations

import time
from decimal import Decimal

from lifecycle_testing import post_broadcast
from sqlalchemy import text

from app.extensions import db
from app.services.sending import lease_reaper
from app.services.state import call_journal, claims
from app.services.sending.retry_policy import Policy
from providers.base import Accepted, PermanentError, TemporaryError

POLICY = Policy(max_attempts=5, base_seconds=0.1, max_seconds=1.0)


def _claim_and_expire(broadcast_id: str, count: int) -> claims.Claim:
    """Lease rows as a worker would, then let the lease run out."""
    claim = claims.claim_batch(broadcast_id, count, lease_seconds=0.2)
    time.sleep(0.3)
    return claim


def _statuses(broadcast_id: str) -> dict[int, tuple]:
    """id -> (status, attempts, provider id) of the broadcast's rows."""
    rows = db.session.execute(text("SELECT id, status, attempts, provider_message_id FROM messages "
                                   "WHERE broadcast_id = :b"), {"b": broadcast_id}).all()
    db.session.rollback()
    return {row.id: (row.status, row.attempts, row.provider_message_id) for row in rows}


def test_a_dead_workers_claim_is_settled_from_what_its_journal_heard(app, client, service):
    broadcast_id = post_broadcast(client, service, 6)
    with app.app_context():
        claim = _claim_and_expire(broadcast_id, 6)
        ids = sorted(row.id for row in claim.rows)
        answers = [(ids[0], Accepted("AT-1", Decimal("0.25"), "ZMW", 1)), (ids[1], PermanentError("UserInBlacklist")),
                   (ids[2], TemporaryError("InternalServerError"))]
        encoded = [(mid, call_journal.encode_answer(result)) for mid, result in answers]
        assert call_journal.start_calls(claim.token, broadcast_id, "africastalking", ids[:4], 60) == "ok"
        call_journal.note_answers(claim.token, encoded, 60)
        sweep = lease_reaper.release_expired_leases(set(), POLICY, lease_seconds=0.2)
        rows = _statuses(broadcast_id)
    assert rows[ids[0]] == ("sent", 1, "AT-1")
    assert rows[ids[1]][0] == "failed"
    assert rows[ids[2]][:2] == ("pending", 1)
    assert rows[ids[3]][0] == "failed"  # started, never answered: held as outcome unknown
    assert [rows[mid][:2] for mid in ids[4:]] == [("pending", 0), ("pending", 0)]  # never attempted
    assert (sweep.recorded, sweep.released, sweep.retried, len(sweep.dead_letter_ids)) == (1, 2, 1, 2)
    reasons = {r.reason for r in db_reasons(app)}
    assert reasons == {"permanent_error", "outcome_unknown"}


def db_reasons(app) -> list:
    """Open dead letters' reasons."""
    with app.app_context():
        rows = db.session.execute(text("SELECT reason FROM dead_letters WHERE resolved_at IS NULL")).all()
        db.session.rollback()
    return rows


def test_a_claim_whose_worker_keeps_its_heartbeat_is_left_alone(app, client, service):
    broadcast_id = post_broadcast(client, service, 3)
    with app.app_context():
        claim = _claim_and_expire(broadcast_id, 3)
        assert call_journal.heartbeat(claim.token, 60)
        sweep = lease_reaper.release_expired_leases(set(), POLICY, lease_seconds=30)
        assert sweep.skipped == 3 and {s for s, *_ in _statuses(broadcast_id).values()} == {"processing"}


def test_a_journal_redis_lost_counts_every_row_as_a_lost_call(app, client, service):
    broadcast_id = post_broadcast(client, service, 2)
    with app.app_context():
        claim = _claim_and_expire(broadcast_id, 2)
        call_journal.close_journals([claim.token])
        resend_safe = lease_reaper.release_expired_leases({"africastalking"}, POLICY, lease_seconds=0.2)
        assert resend_safe.retried == 2
        assert {s for s, *_ in _statuses(broadcast_id).values()} == {"pending"}


def test_a_slow_worker_starts_no_call_once_the_reaper_has_settled_its_claim(app, client, service):
    broadcast_id = post_broadcast(client, service, 3)
    with app.app_context():
        claim = _claim_and_expire(broadcast_id, 3)
        ids = sorted(row.id for row in claim.rows)
        assert call_journal.start_calls(claim.token, broadcast_id, "africastalking", ids[:1], 60) == "ok"
        sweep = lease_reaper.release_expired_leases(set(), POLICY, lease_seconds=0.2)
        # The worker was only slow: its next call, for a row the reaper gave back, must not start.
        late = call_journal.start_calls(claim.token, broadcast_id, "africastalking", ids[1:2], 60)
        rows = _statuses(broadcast_id)
    assert late in ("fenced", "no_journal")
    assert (sweep.released, len(sweep.dead_letter_ids)) == (2, 1)
    assert rows[ids[0]][0] == "failed" and [rows[i][:2] for i in ids[1:]] == [("pending", 0), ("pending", 0)]
