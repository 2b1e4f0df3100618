"""The ways back for a message: cancel, requeue, and the tombstones an erasure leaves.

With claims (leasing), outcomes (a batch's results) and message_reports (what delivery reports
drive), the only writers of `messages.status`. Each function moves rows only from the states it
names (compare-and-set), so a late worker, a duplicate report or a reclaimed lease can never move a
row backwards. A row whose person was erased (its recipient a tombstone) never goes back to
`pending`: every way back cancels it instead, and a claim closes any it finds.
"""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db
from app.statuses import BroadcastStatus, MessageStatus, sql_literal

# Rows going back to the queue: cancelled instead if their person was erased or their broadcast
# was cancelled meanwhile (the tombstone test reads the row being updated: no extra lookup).
TOMBSTONE_PREFIX = "erased:"


ERASED_CODE = "contact_erased"
# The error code of a message kept from a number on the suppression list (withdrawn consent has its own).
OPTED_OUT_CODE = "opted_out"


_ERASED = f"starts_with(m.recipient, '{TOMBSTONE_PREFIX}')"


_STAYS_OUT = f"""({_ERASED} OR EXISTS (SELECT 1 FROM broadcasts b WHERE b.id = m.broadcast_id
                                                 AND b.status = {sql_literal(BroadcastStatus.CANCELLED)}))"""


BACK_TO_QUEUE = (f"CASE WHEN {_STAYS_OUT} THEN {sql_literal(MessageStatus.CANCELLED)}"
                 f" ELSE {sql_literal(MessageStatus.PENDING)} END")


FINISHED_IF_CANCELLED = f"CASE WHEN {_STAYS_OUT} THEN now() END"


def code_unless_erased(code: str) -> str:
    """The error code a row going back is given, or contact_erased when its person was erased."""
    return f"CASE WHEN {_ERASED} THEN '{ERASED_CODE}' ELSE {code} END"


# Safety net for the race between a cancel and a retry written at the same moment.
_CANCEL_STRAGGLERS = text(f"""
UPDATE messages m SET status = {sql_literal(MessageStatus.CANCELLED)}, finished_at = now(), updated_at = now()
  FROM broadcasts b
 WHERE b.status = {sql_literal(BroadcastStatus.CANCELLED)}
   AND b.finished_at > now() - make_interval(secs => :within)
   AND m.broadcast_id = b.id AND m.status = {sql_literal(MessageStatus.PENDING)}
""")


_CANCEL_PENDING = text(f"""
UPDATE messages SET status = {sql_literal(MessageStatus.CANCELLED)}, finished_at = now(), updated_at = now()
 WHERE broadcast_id = :bid AND status = {sql_literal(MessageStatus.PENDING)}
""")


# A failed row of an erased person is cancelled rather than sent again to its tombstone.
_REQUEUE = text(f"""
UPDATE messages m
   SET status = {BACK_TO_QUEUE}, attempts = 0, next_attempt_at = now(),
       error_code = {code_unless_erased("NULL")}, error_detail = NULL, finished_at = {FINISHED_IF_CANCELLED},
       updated_at = now()
 WHERE m.id = ANY(CAST(:ids AS bigint[])) AND m.status = {sql_literal(MessageStatus.FAILED)}
RETURNING m.id, m.status
""")


_UNCLAIMED = f"m.status = {sql_literal(MessageStatus.PENDING)}"


# Erasure: every message of the service to these addresses gets a tombstone unique to the row
# (messages is UNIQUE (broadcast_id, recipient)); rows not yet claimed are cancelled. Rows a worker
# holds keep their status: their way back to the queue cancels them (BACK_TO_QUEUE).
_TOMBSTONE = text(f"""
UPDATE messages m SET recipient = '{TOMBSTONE_PREFIX}' || m.id, personalisation = NULL,
       status = CASE WHEN {_UNCLAIMED} THEN {sql_literal(MessageStatus.CANCELLED)} ELSE m.status END,
       error_code = CASE WHEN {_UNCLAIMED} THEN '{ERASED_CODE}' ELSE m.error_code END,
       error_detail = CASE WHEN EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n
                                         WHERE strpos(lower(m.error_detail), n) > 0) THEN NULL
                           ELSE m.error_detail END,
       body = CASE WHEN EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n
                                 WHERE strpos(lower(m.body), n) > 0) THEN NULL ELSE m.body END,
       finished_at = CASE WHEN {_UNCLAIMED} THEN now() ELSE m.finished_at END, updated_at = now()
 WHERE m.service_id = :sid AND m.recipient = ANY(CAST(:addresses AS text[]))
RETURNING m.id, m.provider_message_id,
          m.status = {sql_literal(MessageStatus.CANCELLED)} AND m.error_code = '{ERASED_CODE}' AS cancelled
""")


def tombstone_recipients(service_id: int, addresses: list[str]) -> list:
    """Replace these addresses by tombstones in the service's messages, cancel unclaimed ones. Caller commits.

    Returns (id, provider_message_id, cancelled) per row changed.
    """
    needles = [address.lower().lstrip("+") for address in addresses]
    return db.session.execute(_TOMBSTONE, {"sid": service_id, "addresses": addresses, "needles": needles}).all()


def cancel_pending(broadcast_id) -> int:
    """Cancel a broadcast's unclaimed rows; claimed ones follow when released. Caller commits."""
    return db.session.execute(_CANCEL_PENDING, {"bid": broadcast_id}).rowcount


def cancel_stragglers(within_seconds: float = 3600) -> int:
    """Cancel rows that went back to pending just as their broadcast was cancelled; commit."""
    moved = db.session.execute(_CANCEL_STRAGGLERS, {"within": within_seconds}).rowcount
    db.session.commit()
    return moved


def requeue_failed(message_id: int) -> bool:
    """Put one failed message back to pending with fresh attempts. Caller commits."""
    return requeue_failed_many([message_id]) == [message_id]


def requeue_failed_many(message_ids: list[int]) -> list[int]:
    """Put failed messages back to pending with fresh attempts; return those moved. Caller commits.

    A message whose person was erased, or whose broadcast was cancelled, is cancelled instead
    (and counts as moved: its dead letter is settled either way).
    """
    if not message_ids:
        return []
    return [row.id for row in db.session.execute(_REQUEUE, {"ids": message_ids})]
