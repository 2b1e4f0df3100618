"""Writing a batch's outcomes so that nothing the gateway answered is forgotten while the worker lives.

If PostgreSQL is unreachable when the outcomes are ready, the worker keeps them
and tries again with backoff for HERALD_OUTCOME_WRITE_SECONDS, keeping its call
journal's heartbeat fresh so the lease reaper leaves the claim alone meanwhile.
A write that fails for good is logged with every gateway id it held.
"""
from __future__ import annotations

import logging
import time

import redis
from sqlalchemy.exc import InterfaceError, OperationalError

from app.extensions import db
from app.services.state import call_journal, claims, outcomes

log = logging.getLogger(__name__)

# Connection-level failures: the server went away or the connection broke; the write may be repeated.
_TRANSIENT = (OperationalError, InterfaceError)
_FIRST_DELAY, _MAX_DELAY = 0.2, 2.0


def write(outcome: outcomes.BatchOutcome, lease_seconds: float, window_seconds: float) -> list[int]:
    """Record the outcome, retrying through a database outage; return the new dead-letter ids."""
    deadline = time.monotonic() + window_seconds
    delay = _FIRST_DELAY
    while True:
        try:
            dead_letter_ids = outcomes.record_outcome(outcome)
            break
        except _TRANSIENT as exc:
            _discard_transaction()
            _heartbeat(outcome.token, lease_seconds)
            if time.monotonic() + delay > deadline:
                _log_lost(outcome, exc)
                raise
            log.warning("outcomes of claim %s not written yet (%s); retrying in %.1fs",
                        outcome.token, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
    _close_journal(outcome.token)
    return dead_letter_ids


def _discard_transaction() -> None:
    """Drop the failed transaction; a dead connection may refuse even that."""
    try:
        db.session.rollback()
    except _TRANSIENT:
        db.session.close()


def _heartbeat(token, lease_seconds: float) -> None:
    """Tell the reaper this claim's worker lives; Redis may be down too, which only costs the claim its shield."""
    try:
        call_journal.heartbeat(token, claims.journal_ttl(lease_seconds))
    except redis.RedisError:
        pass


def _close_journal(token) -> None:
    """The claim is settled; its journal may go (or expire by itself if Redis is away)."""
    try:
        call_journal.close_journals([token])
    except redis.RedisError:
        pass


def _log_lost(outcome: outcomes.BatchOutcome, exc: Exception) -> None:
    """Give up loudly, with what the gateway accepted, so an operator can reconcile by hand."""
    log.error("outcomes of claim %s could not be written (%s): gateway ids of accepted messages %s; "
              "the lease reaper will hold them as outcome unknown", outcome.token, exc,
              [(mid, pid) for mid, pid, *_ in outcome.sent])
