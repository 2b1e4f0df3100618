"""Delivery reports: stored once each as they arrive, applied to messages in bulk.

A report only ever moves a message forward (sent or unknown_delivery → delivered |
failed | unreachable), through message_reports. A report whose message is not found
(not sent yet, or not ours: Africa's Talking posts a whole account's reports to one
URL) is looked at again with backoff and closed as unmatched after
HERALD_REPORT_UNMATCHED_SECONDS. The applier takes reports never looked at first,
so unknown ones never stand in front of new ones.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.redis_store import get_redis
from app.services.state import message_parts, message_reports
from app.services.state.message_state import TOMBSTONE_PREFIX
from app.services.state.message_reports import ROW_PROVIDER as _ROW_PROVIDER, unnest_columns
from app.services.reports.report_addresses import scrub_addresses
from providers.base import DeliveryReport

# A report for an erased person's message is stored without its address fields (`scrubbed`, given
# for every report that has any). Whose it is comes from the message row, read in this statement
# (no extra round trip), and only for reports that carry an address. FOR KEY SHARE waits for an
# erasure in progress (changing `recipient`, a key column, takes the row's FOR UPDATE lock) and then
# reads the tombstone; an erasure that starts after this lock finds the report stored, and scrubs it.
# A part's receipt (message_parts) is judged by its message.
# Unlike applying, scrubbing goes by the id alone: a colliding id under another account loses its
# address fields too, which costs nothing, where missing the erased person's would not.
_STORE = text("""
INSERT INTO delivery_events (provider, provider_message_id, provider_status, status, failure_reason, network_code,
                             payload)
SELECT v.provider, v.pid, v.provider_status, v.status, v.reason, v.network,
       CASE WHEN v.scrubbed IS NOT NULL
                 AND (EXISTS (SELECT 1 FROM (SELECT m.recipient FROM messages m WHERE m.provider_message_id = v.pid
                                               FOR KEY SHARE) m
                               WHERE starts_with(m.recipient, :prefix))
                      OR EXISTS (SELECT 1 FROM (SELECT m.recipient FROM message_parts p
                                                  JOIN messages m ON m.id = p.message_id
                                                 WHERE p.provider_message_id = v.pid FOR KEY SHARE OF m) m
                                  WHERE starts_with(m.recipient, :prefix)))
            THEN v.scrubbed ELSE v.payload END
  FROM unnest(CAST(:providers AS text[]), CAST(:pids AS text[]), CAST(:provider_statuses AS text[]),
              CAST(:statuses AS text[]), CAST(:reasons AS text[]), CAST(:networks AS text[]),
              CAST(:payloads AS jsonb[]), CAST(:scrubbed AS jsonb[]))
       AS v(provider, pid, provider_status, status, reason, network, payload, scrubbed)
ON CONFLICT ON CONSTRAINT uq_delivery_events_report DO NOTHING
RETURNING provider, provider_message_id, provider_status
""")
_PAYLOADS_BY_MESSAGE = text("""
SELECT id, payload FROM delivery_events WHERE provider_message_id = ANY(CAST(:pids AS text[])) FOR UPDATE
""")
_PAYLOADS_BY_ID = text("SELECT id, payload FROM delivery_events WHERE id = ANY(CAST(:ids AS bigint[])) FOR UPDATE")
_REWRITE = text("""
UPDATE delivery_events e SET payload = v.payload
  FROM unnest(CAST(:ids AS bigint[]), CAST(:payloads AS jsonb[])) AS v(id, payload)
 WHERE e.id = v.id
""")
_COLUMNS = """id, provider, provider_message_id, status, failure_reason,
       received_at < now() - make_interval(secs => :stale) AS stale"""
_TAKE_FRESH = text(f"""
SELECT {_COLUMNS} FROM delivery_events WHERE applied_at IS NULL AND checks = 0
 ORDER BY id LIMIT :limit
   FOR UPDATE SKIP LOCKED
""")
_TAKE_DUE = text(f"""
SELECT {_COLUMNS} FROM delivery_events WHERE applied_at IS NULL AND checks > 0 AND next_check_at <= now()
 ORDER BY next_check_at LIMIT :limit
   FOR UPDATE SKIP LOCKED
""")
# A report is known when a message of its provider carries its id: ids are unique per account only
# (two binds of one SMSC login, two aggregators), so the id alone would call a stranger's report known.
# `part_of` names a message sent in parts (its first part's id is the message's): only messages of
# several segments are looked for in message_parts, so a single-part report pays no extra lookup.
_KNOWN = text(f"""
SELECT v.provider, v.pid, starts_with(m.recipient, :prefix) AS erased,
       CASE WHEN m.segments > 1 THEN
            CASE WHEN EXISTS (SELECT 1 FROM message_parts p WHERE p.message_id = m.id) THEN m.id END
       END AS part_of
  FROM unnest(CAST(:providers AS text[]), CAST(:pids AS text[])) AS v(provider, pid)
  JOIN messages m ON m.provider_message_id = v.pid AND {_ROW_PROVIDER} = v.provider
""")
# A report no message carries may be a later part's receipt (message_parts): looked for only then.
_KNOWN_PARTS = text("""
SELECT v.provider, v.pid, starts_with(m.recipient, :prefix) AS erased, m.id AS part_of
  FROM unnest(CAST(:providers AS text[]), CAST(:pids AS text[])) AS v(provider, pid)
  JOIN message_parts p ON p.provider_message_id = v.pid AND p.provider = v.provider
  JOIN messages m ON m.id = p.message_id
""")
_CLOSE = text("""
UPDATE delivery_events e SET applied_at = now(), outcome = v.outcome
  FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS v(id, outcome)
 WHERE e.id = v.id
""")
# Doubling waits, capped, and never past the moment the report is due to close as unmatched.
_RECHECK = text("""
UPDATE delivery_events
   SET checks = LEAST(checks + 1, 32000),
       next_check_at = LEAST(received_at + make_interval(secs => :stale),
                             now() + make_interval(secs => LEAST(CAST(:cap AS float8),
                                                                 CAST(:base AS float8) * power(2, LEAST(checks, 30)))))
 WHERE id = ANY(CAST(:ids AS bigint[]))
""")


# Stands while an apply run is queued; the run deletes it before taking reports, so a report stored
# after that wakes another run and none is stranded. It expires in case the queued run is lost.
_WAKE_KEY = "herald:wake:apply_reports"
_WAKE_TTL_MS = 10_000


@dataclass
class ReportPass:
    """What one applier pass did: reports taken, closed, and messages moved."""

    taken: int = 0
    closed: int = 0
    moved: int = 0


def store_reports(provider: str, reports: list[DeliveryReport]) -> int:
    """Insert one provider's reports in one statement, ignoring exact repeats; commit; return how many were new."""
    return sum(store_mixed([(provider, report) for report in reports]))


def store_mixed(items: list[tuple[str, DeliveryReport]]) -> list[bool]:
    """Insert (provider, report) pairs in one statement and commit; per item, whether it was new."""
    if not items:
        return []
    reports = [report for _, report in items]
    payloads = [dict(r.raw) for r in reports]
    scrubbed = [scrub_addresses(payload) for payload in payloads]
    rows = db.session.execute(_STORE, {
        "providers": [provider for provider, _ in items], "pids": [r.provider_message_id for r in reports],
        "provider_statuses": [r.provider_status for r in reports], "statuses": [r.status for r in reports],
        "reasons": [r.failure_reason for r in reports], "networks": [r.network_code for r in reports],
        "payloads": [json.dumps(payload) for payload in payloads],
        "scrubbed": [json.dumps(clean) if clean != payload else None for payload, clean in zip(payloads, scrubbed)],
        "prefix": TOMBSTONE_PREFIX,
    }).all()
    db.session.commit()
    new = {tuple(row) for row in rows}
    answers = []
    for provider, report in items:
        key = (provider, report.provider_message_id, report.provider_status)
        answers.append(key in new)
        # The same report twice in one batch: only the first is new.
        new.discard(key)
    return answers


def scrub_reports(provider_message_ids: list[str], addresses: list[str]) -> int:
    """Take these addresses out of every stored report of these gateway ids; how many changed. Caller commits."""
    return _scrub(db.session.execute(_PAYLOADS_BY_MESSAGE, {"pids": provider_message_ids}).all(), addresses)


def _scrub(rows: list, addresses: list[str]) -> int:
    """Rewrite the (id, payload) rows whose payload holds an address; how many changed.

    Runs at erasure and for the rare report whose message was erased after it was stored, never
    per report on the hot path.
    """
    changed = [(row.id, clean) for row in rows if (clean := scrub_addresses(row.payload, addresses)) != row.payload]
    if changed:
        db.session.execute(_REWRITE, {"ids": [row_id for row_id, _ in changed],
                                      "payloads": [json.dumps(clean) for _, clean in changed]})
    return len(changed)


def claim_wake_up() -> bool:
    """True when no apply run is queued yet: the caller should enqueue one."""
    return bool(get_redis().set(_WAKE_KEY, "1", nx=True, px=_WAKE_TTL_MS))


def release_wake_up() -> None:
    """An apply run is starting: reports stored from now on must wake another."""
    get_redis().delete(_WAKE_KEY)


def _take(limit: int, stale_seconds: int) -> list:
    """Up to `limit` reports, locked: never-checked ones first, then rechecks whose time has come."""
    params = {"limit": limit, "stale": stale_seconds}
    events = db.session.execute(_TAKE_FRESH, params).all()
    if len(events) < limit:
        params["limit"] = limit - len(events)
        events += db.session.execute(_TAKE_DUE, params).all()
    return sorted(events, key=lambda event: event.id)


def _first_final(events: list) -> dict[tuple[str, str], tuple]:
    """Per (provider, message id), the earliest final report in this pass."""
    chosen: dict[tuple[str, str], tuple] = {}
    for event in events:
        if event.status is not None:
            chosen.setdefault((event.provider, event.provider_message_id), event)
    return chosen


def _outcome(event, chosen: dict, known: set) -> str | None:
    """How a taken report closes; None when its message is not found yet and it should be checked again."""
    key = (event.provider, event.provider_message_id)
    if key in known:
        if event.status is None:
            return "informational"
        return "applied" if chosen.get(key) is event else "superseded"
    return "unmatched" if event.stale else None


def _known(asked: list[tuple[str, str]]) -> list:
    """The (provider, pid, erased, part_of) of each asked report some message or part carries."""
    params = {"providers": [a[0] for a in asked], "pids": [a[1] for a in asked], "prefix": TOMBSTONE_PREFIX}
    found = db.session.execute(_KNOWN, params).all()
    matched = {(row.provider, row.pid) for row in found}
    rest = [a for a in asked if a not in matched]
    if rest:
        found += db.session.execute(_KNOWN_PARTS, {"providers": [a[0] for a in rest], "pids": [a[1] for a in rest],
                                                   "prefix": TOMBSTONE_PREFIX}).all()
    return found


def apply_pending_reports(limit: int) -> ReportPass:
    """Apply up to `limit` due reports in bulk, close the settled ones, back off the rest; commit."""
    cfg = current_app.config
    stale = cfg["HERALD_REPORT_UNMATCHED_SECONDS"]
    events = _take(limit, stale)
    if not events:
        db.session.rollback()
        return ReportPass()
    chosen = _first_final(events)
    # Which ids are known is read before the rows are moved, never after: a batch committing its
    # rows as sent in between would make a report look applied that the move did not see (its row
    # was still `processing`), and close it for good. Read first, such a report is checked again.
    found = _known(sorted({(e.provider, e.provider_message_id) for e in events}))
    known = {(row.provider, row.pid) for row in found}
    in_parts = {(row.provider, row.pid) for row in found if row.part_of is not None}
    finals = [(e.provider, e.provider_message_id, e.status, e.failure_reason) for e in chosen.values()]
    moved = message_reports.apply_delivery_outcomes([f for f in finals if f[:2] in known and f[:2] not in in_parts])
    split = sorted({row.part_of for row in found if row.part_of is not None})
    if split:  # receipts of messages sent in parts: each settles once all its parts have one
        message_parts.mark_reports(split, *unnest_columns([f for f in finals if f[:2] in in_parts], 4))
        moved += message_reports.settle_split(split)
    closed, later = [], []
    for event in events:
        outcome = _outcome(event, chosen, known)
        if outcome is None:
            later.append(event.id)
        else:
            closed.append((event.id, outcome))
    erased = {(row.provider, row.pid) for row in found if row.erased}
    if erased:  # stored before its message was known to be erased (a report that raced the send)
        ids = [e.id for e in events if (e.provider, e.provider_message_id) in erased]
        _scrub(db.session.execute(_PAYLOADS_BY_ID, {"ids": ids}).all(), [])
    if closed:
        db.session.execute(_CLOSE, {"ids": [c[0] for c in closed], "outcomes": [c[1] for c in closed]})
    if later:
        db.session.execute(_RECHECK, {"ids": later, "stale": stale, "base": cfg["HERALD_REPORT_RECHECK_BASE_SECONDS"],
                                      "cap": cfg["HERALD_REPORT_RECHECK_MAX_SECONDS"]})
    db.session.commit()
    return ReportPass(taken=len(events), closed=len(closed), moved=moved)


def mark_unknown_deliveries(limit: int) -> int:
    """Move sent messages whose final report is overdue to unknown_delivery; return how many moved."""
    return message_reports.mark_unknown_delivery(current_app.config["HERALD_DELIVERY_REPORT_TIMEOUT_SECONDS"], limit)
