"""Delivery reports: stored once each as they arrive, applied to messages in bulk.

A report only ever moves a message forward (sent → delivered | failed |
unreachable). A report that arrives before its message's `sent` is committed
waits, unapplied, and is matched on a later pass.
"""
from __future__ import annotations

import json

from sqlalchemy import text

from app.extensions import db
from providers.base import DeliveryReport

# A report whose message never appears within this long is closed as unmatched.
UNMATCHED_AFTER_SECONDS = 3600

_STORE = text("""
INSERT INTO delivery_events (provider, provider_message_id, provider_status, status, failure_reason, network_code,
                             payload)
SELECT :provider, * FROM unnest(CAST(:pids AS text[]), CAST(:provider_statuses AS text[]), CAST(:statuses AS text[]),
                                CAST(:reasons AS text[]), CAST(:networks AS text[]), CAST(:payloads AS jsonb[]))
ON CONFLICT ON CONSTRAINT uq_delivery_events_report DO NOTHING
""")
_TAKE = text("""
SELECT id, provider, provider_message_id, status, failure_reason,
       received_at < now() - make_interval(secs => :stale) AS stale
  FROM delivery_events WHERE applied_at IS NULL
 ORDER BY id LIMIT :limit
   FOR UPDATE SKIP LOCKED
""")
_APPLY = text("""
UPDATE messages m
   SET status = v.status, error_code = v.reason, finished_at = now(), updated_at = now()
  FROM unnest(CAST(:pids AS text[]), CAST(:statuses AS text[]), CAST(:reasons AS text[])) AS v(pid, status, reason),
       broadcasts b
 WHERE m.provider_message_id = v.pid AND m.status = 'sent'
   AND b.id = m.broadcast_id AND b.provider = :provider
""")
_KNOWN = text("SELECT provider_message_id FROM messages WHERE provider_message_id = ANY(CAST(:pids AS text[]))")
_CLOSE = text("""
UPDATE delivery_events e SET applied_at = now(), outcome = v.outcome
  FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS v(id, outcome)
 WHERE e.id = v.id
""")


def store_reports(provider: str, reports: list[DeliveryReport]) -> int:
    """Insert reports in one statement, ignoring exact repeats; return how many were new."""
    if not reports:
        return 0
    created = db.session.execute(_STORE, {
        "provider": provider, "pids": [r.provider_message_id for r in reports],
        "provider_statuses": [r.provider_status for r in reports], "statuses": [r.status for r in reports],
        "reasons": [r.failure_reason for r in reports], "networks": [r.network_code for r in reports],
        "payloads": [json.dumps(dict(r.raw)) for r in reports],
    }).rowcount
    db.session.commit()
    return created


def _first_final(events: list) -> dict[tuple[str, str], tuple]:
    """Per (provider, message id), the earliest final report in this pass."""
    chosen: dict[tuple[str, str], tuple] = {}
    for event in events:
        if event.status is not None:
            chosen.setdefault((event.provider, event.provider_message_id), event)
    return chosen


def apply_pending_reports(limit: int) -> int:
    """Apply up to `limit` unapplied reports in bulk; return how many were closed."""
    events = db.session.execute(_TAKE, {"limit": limit, "stale": UNMATCHED_AFTER_SECONDS}).all()
    if not events:
        db.session.rollback()
        return 0
    chosen = _first_final(events)
    for provider in {key[0] for key in chosen}:
        picked = [e for key, e in chosen.items() if key[0] == provider]
        db.session.execute(_APPLY, {"provider": provider, "pids": [e.provider_message_id for e in picked],
                                    "statuses": [e.status for e in picked],
                                    "reasons": [e.failure_reason for e in picked]})
    pids = list({e.provider_message_id for e in events})
    known = set(db.session.execute(_KNOWN, {"pids": pids}).scalars())
    ids, outcomes = [], []
    for event in events:
        if event.provider_message_id in known:
            outcome = "applied" if chosen.get((event.provider, event.provider_message_id)) is event else "superseded"
            outcome = "informational" if event.status is None else outcome
        elif event.stale:
            outcome = "unmatched"
        else:
            continue
        ids.append(event.id)
        outcomes.append(outcome)
    if ids:
        db.session.execute(_CLOSE, {"ids": ids, "outcomes": outcomes})
    db.session.commit()
    return len(ids)
