"""The parts of multi-part messages: their ids, written with the `sent` move, and their receipts' statuses.

An SMSC gives each submit_sm of a long message its own id and sends a receipt for each. The
message's own `provider_message_id` is its first part's; every part (the first included) has a row
here, so a receipt of any part is known, and the message settles (message_reports.settle_split)
once every part has a final status, at the worst of them. Messages taken under one id have no rows.
"""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.services.state.message_reports import ROW_PROVIDER
from app.statuses import MessageStatus, sql_literal

# Written before the `sent` move of the same transaction, guarded by the same claim token: parts are
# recorded exactly for the rows that move. A message sent again (a dead letter requeued) replaces them.
_RECORD = text(f"""
INSERT INTO message_parts (message_id, part, provider, provider_message_id)
SELECT m.id, v.part, {ROW_PROVIDER}, v.pid
  FROM unnest(CAST(:ids AS bigint[]), CAST(:parts AS smallint[]), CAST(:pids AS text[])) AS v(id, part, pid)
  JOIN messages m ON m.id = v.id AND m.status = {sql_literal(MessageStatus.PROCESSING)} AND m.claim_token = :token
ON CONFLICT (message_id, part) DO UPDATE
   SET provider = EXCLUDED.provider, provider_message_id = EXCLUDED.provider_message_id,
       status = NULL, failure_reason = NULL
""")

# The messages are locked in id order before any of their parts changes: two appliers holding two
# parts of one message then settle it one after the other, and the second sees the first's part
# (each alone would find the other's still missing).
_LOCK = text("SELECT id FROM messages WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE")
# A part keeps its first final receipt.
_MARK = text("""
UPDATE message_parts p SET status = v.status, failure_reason = v.reason
  FROM unnest(CAST(:providers AS text[]), CAST(:pids AS text[]), CAST(:statuses AS text[]),
              CAST(:reasons AS text[])) AS v(provider, pid, status, reason)
 WHERE p.provider_message_id = v.pid AND p.provider = v.provider AND p.status IS NULL
""")
# Receipts stored before the message was recorded as sent (an SMSC's receipt can beat the commit).
_MARK_WAITING = text("""
UPDATE message_parts p SET status = w.status, failure_reason = w.failure_reason
  FROM (SELECT q.message_id, q.part, r.status, r.failure_reason
          FROM message_parts q
         CROSS JOIN LATERAL (SELECT e.status, e.failure_reason FROM delivery_events e
                              WHERE e.provider = q.provider AND e.provider_message_id = q.provider_message_id
                                AND e.applied_at IS NULL AND e.status IS NOT NULL
                              ORDER BY e.id LIMIT 1) r
         WHERE q.message_id = ANY(CAST(:ids AS bigint[])) AND q.status IS NULL) w
 WHERE p.message_id = w.message_id AND p.part = w.part
""")
_IDS_OF = text("SELECT provider_message_id FROM message_parts WHERE message_id = ANY(CAST(:ids AS bigint[]))")


def record(token, parts: list[tuple[int, tuple[str, ...]]]) -> None:
    """Record each (message id, its parts' ids) of a claim about to move to `sent`. Caller commits."""
    rows = [(message_id, number, pid) for message_id, pids in parts for number, pid in enumerate(pids, start=1)]
    if rows:
        db.session.execute(_RECORD, {"token": token, "ids": [r[0] for r in rows], "parts": [r[1] for r in rows],
                                     "pids": [r[2] for r in rows]})


def mark_reports(message_ids: list[int], providers: list[str], pids: list[str], statuses: list[str],
                 reasons: list) -> None:
    """Give the parts these final reports name their status, these messages (theirs) locked first. Caller commits."""
    db.session.execute(_LOCK, {"ids": message_ids})
    db.session.execute(_MARK, {"providers": providers, "pids": pids, "statuses": statuses, "reasons": reasons})


def mark_waiting(message_ids: list[int]) -> None:
    """Give just-sent messages' parts the final receipts already stored for them. Caller commits."""
    db.session.execute(_LOCK, {"ids": message_ids})
    db.session.execute(_MARK_WAITING, {"ids": message_ids})


def part_ids(message_ids: list[int]) -> list[str]:
    """Every part's gateway id of these messages (their reports carry the person's address too)."""
    if not message_ids:
        return []
    return list(db.session.execute(_IDS_OF, {"ids": message_ids}).scalars())
