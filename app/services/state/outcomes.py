"""Batch outcomes: a claim's results written in one transaction, each move guarded by the claim token.

Sent rows (with their parts' ids), retries (pinned to their account after an unknown outcome),
deferrals, releases and dead letters; the quota of what the gateway did not take goes back. Rows
going back to the queue are cancelled instead when their person was erased or their broadcast
cancelled. One of the writers of `messages.status` (see app.services.state).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.services.limits import quota
from app.services.state import message_parts, message_reports
from app.services.state.message_reports import unnest_columns
from app.services.state.message_state import BACK_TO_QUEUE, FINISHED_IF_CANCELLED, code_unless_erased
from app.statuses import MessageStatus, sql_literal

log = logging.getLogger(__name__)

_MARK_SENT = text(f"""
UPDATE messages m
   SET status = {sql_literal(MessageStatus.SENT)}, provider_message_id = v.pid,
       cost = COALESCE(v.cost, m.price * v.segments),
       currency = COALESCE(v.currency, CASE WHEN m.price IS NOT NULL THEN CAST(:price_currency AS text) END),
       segments = v.segments, sent_at = now(), claim_token = NULL, lease_expires_at = NULL,
       error_code = NULL, error_detail = NULL, updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:pids AS text[]), CAST(:costs AS numeric[]),
              CAST(:currencies AS text[]), CAST(:segments AS smallint[]))
       AS v(id, pid, cost, currency, segments)
 WHERE m.id = v.id AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND m.claim_token = :token
""")


# A retry after an unknown outcome pins the row to the account that made the call (for good: that
# call may yet be delivered, and only that account would know a second copy by its key).
_MARK_RETRY = text(f"""
UPDATE messages m
   SET status = {BACK_TO_QUEUE}, finished_at = {FINISHED_IF_CANCELLED},
       next_attempt_at = now() + make_interval(secs => v.delay),
       error_code = {code_unless_erased("v.code")}, error_detail = v.detail, claim_token = NULL,
       lease_expires_at = NULL, pinned = m.pinned OR v.pin, updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[]), CAST(:codes AS text[]),
              CAST(:details AS text[]), CAST(:pins AS boolean[])) AS v(id, delay, code, detail, pin)
 WHERE m.id = v.id AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND m.claim_token = :token
RETURNING m.provider
""")


# A 429 is the gateway asking for time, not a failed attempt: the attempt is given back.
_DEFER = text(f"""
UPDATE messages m
   SET status = {BACK_TO_QUEUE}, finished_at = {FINISHED_IF_CANCELLED}, next_attempt_at = now() + make_interval(secs => v.delay), attempts = m.attempts - 1,
       error_code = {code_unless_erased("'rate_limited'")}, claim_token = NULL, lease_expires_at = NULL,
       updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[])) AS v(id, delay)
 WHERE m.id = v.id AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND m.claim_token = :token
RETURNING m.provider
""")


# Claims the gateway never had go back with their attempt: to pending, or to cancelled if the
# broadcast was cancelled meanwhile (transactional rows have no broadcast and simply go back).
_RELEASE_TEMPLATE = f"""
UPDATE messages m
   SET status = {{back}}, finished_at = {{finished}}, error_code = {{code}},
       attempts = GREATEST(m.attempts - 1, 0), claim_token = NULL, lease_expires_at = NULL,
       updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND {{guard}}
RETURNING m.provider
"""


_RELEASE = text(_RELEASE_TEMPLATE.format(back=BACK_TO_QUEUE, finished=FINISHED_IF_CANCELLED,
                                         code=code_unless_erased("m.error_code"), guard="m.claim_token = :token"))


# Failing a message and opening its dead-letter entry happen in one statement.
_MARK_DEAD_TEMPLATE = f"""
WITH v AS (
  SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[]), CAST(:codes AS text[]),
                       CAST(:details AS text[])) AS v(id, reason, code, detail)
), failed AS (
  UPDATE messages m
     SET status = {sql_literal(MessageStatus.FAILED)}, error_code = v.code, error_detail = v.detail,
         finished_at = now(), claim_token = NULL, lease_expires_at = NULL, updated_at = now()
    FROM v
   WHERE m.id = v.id AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND {{guard}}
  RETURNING m.id, m.broadcast_id, m.service_id, m.attempts, m.provider, v.reason, v.code, v.detail
)
INSERT INTO dead_letters (message_id, broadcast_id, service_id, attempts, reason, error_code, error_detail)
SELECT id, broadcast_id, service_id, attempts, reason, code, detail FROM failed
ON CONFLICT (message_id) WHERE resolved_at IS NULL DO NOTHING
RETURNING id, reason, (SELECT f.provider FROM failed f WHERE f.id = dead_letters.message_id) AS provider
"""


_MARK_DEAD = text(_MARK_DEAD_TEMPLATE.format(guard="m.claim_token = :token"))


@dataclass
class BatchOutcome:
    """What happened to one claimed batch, gathered in memory, written in one transaction."""

    token: uuid.UUID
    scopes: list = field(default_factory=list)
    sent: list[tuple[int, str, Decimal | None, str | None, int]] = field(default_factory=list)
    retry: list[tuple[int, float, str, str]] = field(default_factory=list)
    dead: list[tuple[int, str, str, str]] = field(default_factory=list)
    deferred: list[tuple[int, float]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    # Retried rows whose call's outcome is unknown: they stay on the account that made it.
    pinned: list[int] = field(default_factory=list)
    # Sent rows the gateway took as several parts, each under its own id: (id, the parts' ids in order).
    parts: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

    def extend(self, other: "BatchOutcome") -> None:
        """Add another share of the same claim (sent through another account)."""
        for mine, theirs in zip(self._lists(), other._lists()):
            mine.extend(theirs)

    def _lists(self) -> tuple[list, ...]:
        """Every list of results, in one order."""
        return self.sent, self.retry, self.dead, self.deferred, self.released, self.pinned, self.parts



def record_outcome(outcome: BatchOutcome) -> list[int]:
    """Write a batch's results in one transaction and return the new dead-letter ids.

    Safe to call again after a failed commit: every statement is guarded by the claim
    token, and the quota refund counts only rows this call really moved.
    """
    token = outcome.token
    dead_ids: list[int] = []
    not_taken: list = []  # the account of each row the gateway did not take
    if outcome.sent:
        message_parts.record(token, outcome.parts)
        ids, pids, costs, currencies, segments = unnest_columns(outcome.sent, 5)
        db.session.execute(_MARK_SENT, {"token": token, "ids": ids, "pids": pids, "costs": costs,
                                        "currencies": currencies, "segments": segments,
                                        "price_currency": current_app.config["HERALD_SMS_CURRENCY"]})
    if outcome.retry:
        ids, delays, codes, details = unnest_columns(outcome.retry, 4)
        pinned = set(outcome.pinned)
        not_taken += db.session.execute(_MARK_RETRY, {"token": token, "ids": ids, "delays": delays, "codes": codes,
                                                      "details": details,
                                                      "pins": [mid in pinned for mid in ids]}).scalars().all()
    if outcome.dead:
        dead_ids, refused = _mark_dead(token, outcome.dead)
        not_taken += refused
    if outcome.deferred:
        ids, delays = unnest_columns(outcome.deferred, 2)
        not_taken += db.session.execute(_DEFER, {"token": token, "ids": ids, "delays": delays}).scalars().all()
    if outcome.released:
        not_taken += db.session.execute(_RELEASE, {"token": token, "ids": outcome.released}).scalars().all()
    # The gateway did not take these, so their quota goes back (an unknown outcome keeps its share).
    quota.give_back(outcome.scopes, not_taken)
    db.session.commit()
    if outcome.sent:
        _settle_waiting_reports([sent[0] for sent in outcome.sent], [split[0] for split in outcome.parts])
    return dead_ids


def _settle_waiting_reports(ids: list[int], split: list[int]) -> None:
    """Settle rows whose final report came before they were recorded as sent, once they are committed.

    Looking after the commit, not inside the write's transaction, leaves no gap: a report stored
    before the commit is seen here, one stored after it finds the row `sent` (an SMSC's receipt can
    follow its submit_sm_resp within a millisecond). If this look fails, the applier's rechecks
    settle the row later.
    """
    try:
        in_parts = set(split)
        whole = [mid for mid in ids if mid not in in_parts]
        settled = message_reports.apply_waiting_reports(whole) if whole else 0
        if split:  # parts given their receipts are kept even while others are still missing
            message_parts.mark_waiting(split)
            settled += message_reports.settle_split(split)
        if settled or split:
            db.session.commit()
        else:
            db.session.rollback()
    except SQLAlchemyError:
        log.warning("second look for delivery reports of %d sent rows failed; rechecks will settle them", len(ids))
        db.session.rollback()


def _mark_dead(token, dead: list[tuple[int, str, str, str]]) -> tuple[list[int], list]:
    """Fail rows and open their dead letters; return their ids and the account of each the gateway surely refused."""
    ids, reasons, codes, details = unnest_columns(dead, 4)
    opened = db.session.execute(_MARK_DEAD, {"token": token, "ids": ids, "reasons": reasons,
                                             "codes": codes, "details": details}).all()
    return [row.id for row in opened], [row.provider for row in opened if row.reason != "outcome_unknown"]


def settle_nothing() -> list[int]:
    """End the reaper's transaction when it found nothing to settle."""
    db.session.commit()
    return []
