"""Read models for operators: a broadcast's counts, cost, rate and ETA; pages of messages."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text

from app.errors import NotFound
from app.extensions import db
from app.models import Broadcast
from app.services.limits import send_windows
from app.services.reports import throughput
from app.services.sending import blocked_carriers
from app.statuses import ALL_MESSAGE_STATUSES, MessageStatus

# Route and account are those of the last claim: of the send for a sent row, of the last try otherwise.
_BREAKDOWN = text("""
SELECT status, COALESCE(carrier, 'unknown') AS carrier, route, provider, count(*) AS n,
       COALESCE(sum(cost), 0) AS cost, count(sent_at) AS accepted
  FROM messages WHERE broadcast_id = :bid GROUP BY 1, 2, 3, 4
""")
# Route and account come last, so the columns older exports had keep their places.
_MESSAGE_COLUMNS = """id, recipient, carrier, status, attempts, provider_message_id, segments, cost, currency,
       error_code, error_detail,
       created_at, sent_at, finished_at, route,
       COALESCE(provider, (SELECT b.provider FROM broadcasts b WHERE b.id = :bid)) AS provider"""
_PAGE = text(f"""
SELECT {_MESSAGE_COLUMNS}
  FROM messages
 WHERE broadcast_id = :bid AND (CAST(:status AS text) IS NULL OR status = :status) AND id > :after
 ORDER BY id LIMIT :limit
""")
MESSAGE_FIELDS = ("id", "recipient", "carrier", "status", "attempts", "provider_message_id", "segments", "cost",
                  "currency", "error_code", "error_detail", "created_at", "sent_at", "finished_at", "route", "provider")


def get_owned(service_id: int, broadcast_id) -> Broadcast:
    """A broadcast of this service, or 404 (another service's broadcast does not exist for it)."""
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.service_id != service_id:
        raise NotFound("no such broadcast", {"id": str(broadcast_id)})
    return broadcast


def _money(value) -> str:
    """Money as a fixed 4-decimal string (JSON numbers lose cents)."""
    return str(Decimal(value).quantize(Decimal("0.0001")))


@dataclass
class Breakdown:
    """A broadcast's counts per status, and per carrier, route and account (each by status, accepted, cost)."""

    by_status: dict
    by_carrier: dict
    by_route: dict
    by_account: dict
    # Per (carrier, route, account): which way each carrier's messages went.
    by_path: dict
    total_cost: Decimal


def _tally() -> dict:
    """An empty per-group tally."""
    return {"total": 0, "accepted": 0, "cost": Decimal(0)}


def breakdown(broadcast_id, account: str) -> Breakdown:
    """Counts per status; per carrier, route and account (`account` for rows not routed); total cost."""
    result = Breakdown({status: 0 for status in ALL_MESSAGE_STATUSES}, defaultdict(_tally), defaultdict(_tally),
                       defaultdict(_tally), defaultdict(_tally), Decimal(0))
    for status, carrier, route, provider, n, cost, accepted in db.session.execute(_BREAKDOWN, {"bid": broadcast_id}):
        result.by_status[status] += n
        groups = [result.by_carrier[carrier], result.by_account[provider or account],
                  result.by_path[(carrier, route, provider or account)]]
        if route is not None:
            groups.append(result.by_route[route])
        for entry in groups:
            entry[status] = entry.get(status, 0) + n
            entry["total"] += n
            entry["accepted"] += accepted
            entry["cost"] += cost
        result.total_cost += cost
    return result


def _priced(groups: dict) -> dict:
    """Groups by name, cost as money strings."""
    return {name: {**v, "cost": _money(v["cost"])} for name, v in sorted(groups.items())}


def summary(broadcast: Broadcast) -> dict:
    """Everything the dashboard and `GET /v1/broadcasts/{id}` show."""
    counted = breakdown(broadcast.id, broadcast.provider)
    by_status = counted.by_status
    rate = throughput.recent_rate(broadcast.id)
    open_rows = by_status[MessageStatus.PENDING] + by_status[MessageStatus.PROCESSING]
    return {
        **describe(broadcast),
        "counts": by_status,
        "carriers": _priced(counted.by_carrier),
        "routes": _priced(counted.by_route),
        "accounts": _priced(counted.by_account),
        "paths": [{"carrier": carrier, "route": route, "account": account, **v, "cost": _money(v["cost"])}
                  for (carrier, route, account), v in sorted(counted.by_path.items(), key=lambda i: str(i[0]))],
        "cost": _money(counted.total_cost),
        "blocked_carriers": blocked_carriers.listed(broadcast.id),
        "empty_claims": blocked_carriers.empty_claims(broadcast.id),
        "send_rate_per_second": round(rate, 1),
        "send_rate_history": throughput.rate_history(broadcast.id),
        "eta_seconds": round(open_rows / rate, 1) if rate > 0 and open_rows else (0 if not open_rows else None),
    }


def _intake_counts(broadcast: Broadcast) -> dict:
    """What intake made of the audience: entries read, accepted, rejected, duplicates."""
    return dict(recipients=broadcast.recipient_count, accepted=broadcast.accepted_count,
                rejected=broadcast.rejected_count, duplicates=broadcast.duplicate_count)


def describe(broadcast: Broadcast) -> dict:
    """The broadcast's own fields, without counting its messages."""
    return {
        "id": str(broadcast.id),
        "status": broadcast.status,
        "paused_reason": broadcast.paused_reason,
        "channel": broadcast.channel,
        "provider": broadcast.provider,
        "body": broadcast.body,
        "sender": broadcast.sender,
        "priority": broadcast.priority,
        "rate_limit_per_second": float(broadcast.rate_limit_per_second) if broadcast.rate_limit_per_second else None,
        "scheduled_for": broadcast.scheduled_for.isoformat() if broadcast.scheduled_for else None,
        **_window_state((broadcast.options or {}).get("send_window")),
        **_intake_counts(broadcast),
        "created_at": broadcast.created_at.isoformat() if broadcast.created_at else None,
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
    }


def _window_state(window: dict | None) -> dict:
    """The sending window, and whether the broadcast is waiting for it to open."""
    if not window:
        return {"send_window": None}
    return {"send_window": window, "waiting_for_window": not send_windows.is_open(window),
            "window_opens_at": send_windows.next_opening(window).isoformat()}


def _jsonable(value):
    """Dates as ISO strings, money as strings, the rest as is."""
    if isinstance(value, Decimal):
        return _money(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def message_page(broadcast_id, status: str | None, after: int, limit: int) -> list[dict]:
    """One keyset page of a broadcast's messages, optionally of one status."""
    rows = db.session.execute(_PAGE, {"bid": broadcast_id, "status": status, "after": after, "limit": limit})
    return [{name: _jsonable(value) for name, value in zip(MESSAGE_FIELDS, row)} for row in rows]


_EXPORT = text(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE broadcast_id = :bid ORDER BY id")
_EXPORT_CHUNK = 5000


def export_rows(broadcast_id):
    """Every message of a broadcast, streamed from a server-side cursor in id order (csv_cells writes them safe)."""
    with db.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_EXPORT_CHUNK).execute(
            _EXPORT, {"bid": broadcast_id})
        for row in result:
            yield [_jsonable(value) if value is not None else "" for value in row]
