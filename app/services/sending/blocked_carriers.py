"""Blocked carriers: the route keys of a routed broadcast whose every candidate account's breaker is open.

A blocked key waits at no cost: the producer tick counts only rows that have an open route, so no
send task is scheduled, and no claim made, for rows nobody can carry. At most once per
HERALD_BLOCKED_CHECK_SECONDS a tick notes which keys with pending rows are blocked, why and since
when, in a Redis hash the summary reads; each change is audited. When everything still pending is
blocked and nothing is in flight, the broadcast pauses with the gateways' reason (`gateway_rejected`
only when every blocked key's accounts refuse us); a probe closing a breaker resumes a
`gateway_down` pause, an operator closing one (or resuming the broadcast) any of the two.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.redis_store import get_redis
from app.services.channels import routes
from app.services.sending import breaker, routing
from app.services.state import broadcast_state
from app.services.state.claims import ROUTE_PICK
from app.statuses import BroadcastStatus, MessageStatus, sql_literal

_USABLE = f"(CAST(:r_usable AS boolean[]))[{ROUTE_PICK}]"
_DUE_USABLE = text(f"""
SELECT count(*) FROM (
  SELECT 1 FROM messages m
   WHERE m.broadcast_id = :bid AND m.status = {sql_literal(MessageStatus.PENDING)} AND m.next_attempt_at <= now()
     AND {_USABLE}
   LIMIT :probe) due
""")
# Pending rows per plan key that has no open route (the key's 1-based index in the plan).
_BLOCKED_PENDING = text(f"""
SELECT pick, count(*) AS n FROM (
  SELECT {ROUTE_PICK} AS pick FROM messages m
   WHERE m.broadcast_id = :bid AND m.status = {sql_literal(MessageStatus.PENDING)}) p
 WHERE NOT (CAST(:r_usable AS boolean[]))[pick]
 GROUP BY pick
""")
# Work a pause would strand: a pending row some route can carry, or a row a worker holds.
_CARRIABLE = text(f"""
SELECT EXISTS (SELECT 1 FROM messages m
                WHERE m.broadcast_id = :bid AND m.status = {sql_literal(MessageStatus.PENDING)} AND {_USABLE})
    OR EXISTS (SELECT 1 FROM messages
                WHERE broadcast_id = :bid AND status = {sql_literal(MessageStatus.PROCESSING)})
""")
_PAUSED_ROUTED = text(f"""
SELECT id, channel, paused_reason FROM broadcasts
 WHERE status = {sql_literal(BroadcastStatus.PAUSED)} AND provider = :routed AND paused_reason = ANY(:reasons)
 ORDER BY id
""")
_SERVICE_CHANNEL = text("SELECT service_id, channel FROM broadcasts WHERE id = :bid")
ACTOR = breaker.ACTOR


def _hash_key(broadcast_id) -> str:
    """Redis hash of a broadcast's blocked keys: label -> JSON (reason, since, accounts, pending)."""
    return f"herald:broadcast:{broadcast_id}:blocked"


def _checked_key(broadcast_id) -> str:
    """Redis key that spaces a broadcast's blocked-key checks."""
    return f"herald:broadcast:{broadcast_id}:blocked:checked"


def _empty_claims_key(broadcast_id) -> str:
    """Redis counter of a broadcast's claims that found nothing to send."""
    return f"herald:broadcast:{broadcast_id}:empty_claims"


def plan_keys(channel: str) -> list[tuple[str, str, list[str]]]:
    """(country, carrier, candidate accounts) per plan key, in routing.plan's order."""
    return [(country, carrier, [route.account for route in found])
            for (country, carrier), found in routes.ordered_candidates(channel)]


def due_count(broadcast_id, plan: routing.Plan, probe: int) -> int:
    """Due pending rows (at most `probe`) that an open route can carry now."""
    count = db.session.execute(_DUE_USABLE, {"bid": broadcast_id, "probe": probe, **plan.params()}).scalar()
    db.session.rollback()
    return count


def _reason(accounts: list[str]) -> str:
    """A blocked key's reason: gateway_rejected only when every account refuses us (no probe will help)."""
    reasons = {breaker.open_reason(account) for account in accounts}
    return breaker.REJECTED if reasons == {breaker.REJECTED} else breaker.DOWN


def blocked_now(broadcast_id, channel: str, plan: routing.Plan) -> dict[str, dict]:
    """The broadcast's blocked keys with pending rows: label -> reason, accounts, pending."""
    if all(plan.routes):
        return {}
    keys = plan_keys(channel)
    counts = db.session.execute(_BLOCKED_PENDING, {"bid": broadcast_id, **plan.params()}).all()
    db.session.rollback()
    blocked = {}
    for pick, pending in counts:
        country, carrier, accounts = keys[pick - 1]
        blocked[f"{country}/{carrier}"] = dict(country=country, carrier=carrier, accounts=accounts,
                                               reason=_reason(accounts), pending=pending)
    return blocked


def refresh(broadcast_id, service_id: int, channel: str, plan: routing.Plan) -> None:
    """Note the broadcast's blocked keys (at most once per HERALD_BLOCKED_CHECK_SECONDS); audit each change."""
    r = get_redis()
    spacing_ms = int(current_app.config["HERALD_BLOCKED_CHECK_SECONDS"] * 1000)
    if not r.set(_checked_key(broadcast_id), "1", nx=True, px=spacing_ms):
        return
    known = {label: json.loads(raw) for label, raw in r.hgetall(_hash_key(broadcast_id)).items()}
    if not known and all(plan.routes):
        return
    now = datetime.now(timezone.utc).isoformat()
    blocked = blocked_now(broadcast_id, channel, plan)
    for label, entry in blocked.items():
        before = known.get(label)
        entry["since"] = before["since"] if before and before["reason"] == entry["reason"] else now
        if before is None or before["reason"] != entry["reason"]:
            broadcast_state.record_audit(service_id, broadcast_id, ACTOR, "carrier_blocked", reason=entry["reason"],
                                         details={k: entry[k] for k in ("country", "carrier", "accounts")})
    for label in known.keys() - blocked.keys():
        broadcast_state.record_audit(service_id, broadcast_id, ACTOR, "carrier_unblocked", reason="a route is open",
                                     details={k: known[label][k] for k in ("country", "carrier", "accounts")})
    db.session.commit()
    pipe = r.pipeline()
    pipe.delete(_hash_key(broadcast_id))
    if blocked:
        pipe.hset(_hash_key(broadcast_id), mapping={label: json.dumps(e) for label, e in blocked.items()})
    pipe.execute()


def listed(broadcast_id) -> list[dict]:
    """The blocked carriers the summary shows: country, carrier, reason, since, accounts, pending."""
    entries = [json.loads(raw) for raw in get_redis().hgetall(_hash_key(broadcast_id)).values()]
    return sorted(entries, key=lambda e: (e["country"], e["carrier"]))


def pause_if_all_blocked(broadcast_id, channel: str, plan: routing.Plan) -> bool:
    """Pause a routed broadcast when every row still pending is blocked and none is in flight."""
    if all(plan.routes):
        return False
    carriable = db.session.execute(_CARRIABLE, {"bid": broadcast_id, **plan.params()}).scalar()
    db.session.rollback()
    blocked = {} if carriable else blocked_now(broadcast_id, channel, plan)
    if not blocked:
        return False
    reasons = {entry["reason"] for entry in blocked.values()}
    reason = breaker.REJECTED if reasons == {breaker.REJECTED} else breaker.DOWN
    return broadcast_state.apply(broadcast_id, "pause", actor=ACTOR, paused_reason=reason, strict=False,
                                 reason=f"every pending carrier is blocked: {', '.join(sorted(blocked))}")


def resume_unblocked(reasons: tuple[str, ...] = (breaker.DOWN,), actor: str = ACTOR,
                     why: str = "a route is open again") -> list:
    """Resume routed broadcasts a blocked pause stopped (for these reasons) that a route can carry again."""
    paused = db.session.execute(_PAUSED_ROUTED, {"routed": routes.ROUTED, "reasons": list(reasons)}).all()
    db.session.rollback()
    resumed = []
    for row in paused:
        plan = routing.plan(row.channel)
        carriable = db.session.execute(_CARRIABLE, {"bid": row.id, **plan.params()}).scalar()
        db.session.rollback()
        if carriable and broadcast_state.apply(row.id, "resume", actor=actor, reason=why, strict=False,
                                               from_reason=row.paused_reason):
            resumed.append(row.id)
    return resumed


def close_for_operator(broadcast_id) -> list[str]:
    """Before an operator resumes a routed broadcast paused as blocked, close its blocked keys' breakers."""
    accounts = sorted({account for entry in listed(broadcast_id) for account in entry["accounts"]})
    return [account for account in accounts if breaker.close(account)]


def note_empty_claim(broadcast_id) -> None:
    """Count a claim that found nothing to send (the cost blocked keys must not have)."""
    get_redis().incr(_empty_claims_key(broadcast_id))


def empty_claims(broadcast_id) -> int:
    """How many claims of this broadcast found nothing to send."""
    return int(get_redis().get(_empty_claims_key(broadcast_id)) or 0)
