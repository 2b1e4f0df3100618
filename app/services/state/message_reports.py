"""Status moves that delivery reports drive: a final report settles a `sent` row, a silent one expires.

The report-driven half of message_state (which owns claims and batch outcomes): together they are
the only writers of `messages.status`, each move compare-and-set from the states it names.
"""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.statuses import REPORTABLE_MESSAGE_STATUSES, REPORTED_WORST_FIRST, MessageStatus, sql_list, sql_literal


def unnest_columns(rows: list[tuple], count: int) -> list[list]:
    """Transpose row tuples into per-column lists for unnest()."""
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(count)]


# Delivery reports. A final report moves a row out of `sent` or `unknown_delivery` only, and only when it
# comes from the provider that sent the row: its own (transactional rows) or its broadcast's.
_ROW_PROVIDER = "COALESCE(m.provider, (SELECT b.provider FROM broadcasts b WHERE b.id = m.broadcast_id))"
# The account a row was sent through, for every lookup of a report's (provider, id).
ROW_PROVIDER = _ROW_PROVIDER

_APPLY_REPORTS = text(f"""
UPDATE messages m
   SET status = v.status, error_code = v.reason, finished_at = now(), updated_at = now()
  FROM unnest(CAST(:providers AS text[]), CAST(:pids AS text[]), CAST(:statuses AS text[]),
              CAST(:reasons AS text[])) AS v(provider, pid, status, reason)
 WHERE m.provider_message_id = v.pid AND m.status IN {sql_list(*REPORTABLE_MESSAGE_STATUSES)}
   AND {_ROW_PROVIDER} = v.provider
""")

# A message sent in parts, each with its own receipt (message_parts), settles once every part has a
# final status, at the worst of them: one part lost means the person does not have the message.
_SETTLE_SPLIT = text(f"""
UPDATE messages m
   SET status = w.status, error_code = w.reason, finished_at = now(), updated_at = now()
  FROM (SELECT DISTINCT ON (message_id) message_id, status, failure_reason AS reason
          FROM message_parts WHERE message_id = ANY(CAST(:ids AS bigint[]))
         ORDER BY message_id, array_position(CAST(:worst_first AS text[]), status), part) w
 WHERE m.id = w.message_id AND m.status IN {sql_list(*REPORTABLE_MESSAGE_STATUSES)}
   AND NOT EXISTS (SELECT 1 FROM message_parts q WHERE q.message_id = m.id AND q.status IS NULL)
""")

# Reports that raced the worker (stored while the row was still `processing`) settle the row the moment
# it becomes `sent`: the earliest final report per message. The rows are fetched one by one by primary
# key (OFFSET 0 keeps the planner from flattening that): with statistics taken before any row was
# `sent`, it otherwise scanned the whole `status = 'sent'` partial index (40,000 entries, seconds) for
# each batch of 500.
_WAITING_REPORTS = text(f"""
SELECT s.id, r.status, r.failure_reason
  FROM unnest(CAST(:ids AS bigint[])) AS i(id)
  CROSS JOIN LATERAL (SELECT m.id, m.status, m.provider_message_id AS pid, {_ROW_PROVIDER} AS provider
                        FROM messages m WHERE m.id = i.id OFFSET 0) s
  CROSS JOIN LATERAL (SELECT e.status, e.failure_reason FROM delivery_events e
                       WHERE e.provider = s.provider AND e.provider_message_id = s.pid
                         AND e.applied_at IS NULL AND e.status IS NOT NULL
                       ORDER BY e.id LIMIT 1) r
 WHERE s.status = {sql_literal(MessageStatus.SENT)}
""")
_SETTLE_WAITING = text(f"""
UPDATE messages m
   SET status = v.status, error_code = v.reason, finished_at = now(), updated_at = now()
  FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:reasons AS text[])) AS v(id, status, reason)
 WHERE m.id = v.id AND m.status = {sql_literal(MessageStatus.SENT)}
""")

_MARK_UNKNOWN_DELIVERY = text(f"""
UPDATE messages m SET status = {sql_literal(MessageStatus.UNKNOWN_DELIVERY)}, updated_at = now()
  FROM (SELECT id FROM messages
         WHERE status = {sql_literal(MessageStatus.SENT)} AND sent_at < now() - make_interval(secs => :timeout)
         ORDER BY sent_at LIMIT :limit
           FOR UPDATE SKIP LOCKED) due
 WHERE m.id = due.id AND m.status = {sql_literal(MessageStatus.SENT)}
""")


def apply_delivery_outcomes(reports: list[tuple[str, str, str, str | None]]) -> int:
    """Move rows to the final status of (provider, provider id, status, reason) reports. Caller commits.

    Only for messages sent under one id: a message sent in parts settles through settle_split.
    """
    if not reports:
        return 0
    providers, pids, statuses, reasons = unnest_columns(reports, 4)
    return db.session.execute(_APPLY_REPORTS, {"providers": providers, "pids": pids, "statuses": statuses,
                                               "reasons": reasons}).rowcount


def settle_split(message_ids: list[int]) -> int:
    """Settle messages sent in parts whose every part now has a final status. Caller commits."""
    if not message_ids:
        return 0
    return db.session.execute(_SETTLE_SPLIT, {"ids": message_ids,
                                              "worst_first": list(REPORTED_WORST_FIRST)}).rowcount


def apply_waiting_reports(message_ids: list[int]) -> int:
    """Settle just-sent rows whose final report is already stored. Caller commits."""
    waiting = db.session.execute(_WAITING_REPORTS, {"ids": message_ids}).all()
    if not waiting:
        return 0
    ids, statuses, reasons = unnest_columns(waiting, 3)
    return db.session.execute(_SETTLE_WAITING, {"ids": ids, "statuses": statuses, "reasons": reasons}).rowcount


def mark_unknown_delivery(timeout_seconds: float, limit: int) -> int:
    """Move up to `limit` rows sent longer than `timeout_seconds` ago, with no final report, and commit."""
    moved = db.session.execute(_MARK_UNKNOWN_DELIVERY, {"timeout": float(timeout_seconds), "limit": limit}).rowcount
    db.session.commit()
    return moved
