"""The producer tick: how much work one broadcast may hand out right now.

Budget = min(the broadcast's in-flight cap, its service's share of the send
capacity, due rows, broker queue room, remaining quota). When
the quota is spent the broadcast pauses itself (reason `quota`); a beat task
resumes it when the window resets. The audience is never loaded, only counted in
bounded probes, so memory and queue depth stay flat whatever its size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.services.intake import segments_audience
from app.services.limits import quota, send_windows
from app.services.channels import routes
from app.services.sending import blocked_carriers, inflight, pacing, routing
from app.services.state import broadcast_state
from app.statuses import BroadcastStatus, MessageStatus, PausedReason, sql_list, sql_literal

SEND_QUEUE = "send_bulk"

_DUE = text(f"""
SELECT count(*) FROM (
  SELECT 1 FROM messages
   WHERE broadcast_id = :bid AND status = {sql_literal(MessageStatus.PENDING)} AND next_attempt_at <= now()
   LIMIT :probe) due
""")
_OPEN = text(f"""
SELECT EXISTS (SELECT 1 FROM messages
                WHERE broadcast_id = :bid
                  AND status IN {sql_list(MessageStatus.PENDING, MessageStatus.PROCESSING)})
""")
_BROADCAST = text("SELECT status, service_id, provider, channel, options FROM broadcasts WHERE id = :bid")
_RUNNING = text(f"""
SELECT id FROM broadcasts WHERE status = {sql_literal(BroadcastStatus.RUNNING)} ORDER BY started_at NULLS LAST, id
""")
_DUE_SCHEDULED = text(f"""
SELECT id FROM broadcasts WHERE status = {sql_literal(BroadcastStatus.SCHEDULED)} AND scheduled_for <= now()
 ORDER BY scheduled_for
""")
_QUOTA_PAUSED = text(f"""
SELECT id, service_id, provider FROM broadcasts
 WHERE status = {sql_literal(BroadcastStatus.PAUSED)} AND paused_reason = {sql_literal(PausedReason.QUOTA)}
""")


@dataclass
class TickPlan:
    """The outcome of one tick: slots to enqueue send tasks for, and the broadcast's state."""

    status: str
    slots: list[str] = field(default_factory=list)
    completed: bool = False


def running_broadcasts() -> list:
    """Ids of every running broadcast (the reconciler ticks each)."""
    ids = list(db.session.execute(_RUNNING).scalars())
    db.session.rollback()
    return ids


def _finish_if_done(broadcast_id) -> bool:
    """Complete a running broadcast that has no open rows left and no audience left to resolve."""
    has_open = db.session.execute(_OPEN, {"bid": broadcast_id}).scalar() or segments_audience.is_open(broadcast_id)
    db.session.rollback()
    if has_open:
        return False
    return broadcast_state.apply(broadcast_id, "complete", actor="system", reason="all messages settled",
                                 strict=False)


def _pause_for_quota(broadcast_id, status: str, in_flight: int) -> TickPlan:
    """Pause a broadcast whose quota is spent, once its in-flight batches have finished.

    Those batches hold quota they reserved and may still send it; pausing under
    them would make their guard give the rows back half-sent. Each finishing
    batch asks for a tick, so the last one to finish pauses the broadcast.
    """
    if in_flight:
        return TickPlan(status=status)
    if _finish_if_done(broadcast_id):
        return TickPlan(status=BroadcastStatus.COMPLETED, completed=True)
    broadcast_state.apply(broadcast_id, "pause", actor="system", paused_reason=PausedReason.QUOTA, strict=False)
    return TickPlan(status=BroadcastStatus.PAUSED)


def _count_due(broadcast_id, route_plan, probe: int) -> int:
    """Due pending rows (at most `probe`); with a route plan, only those an open route can carry."""
    if route_plan is not None and not all(route_plan.routes):
        # Rows of a blocked carrier are not work: counting them would schedule claims that find nothing.
        return blocked_carriers.due_count(broadcast_id, route_plan, probe)
    due = db.session.execute(_DUE, {"bid": broadcast_id, "probe": probe}).scalar()
    db.session.rollback()
    return due


def plan_tick(broadcast_id) -> TickPlan:
    """Decide how many send tasks to add for one broadcast; complete or quota-pause it when due."""
    cfg = current_app.config
    row = db.session.execute(_BROADCAST, {"bid": broadcast_id}).first()
    if row is None or row.status != BroadcastStatus.RUNNING:
        db.session.rollback()
        return TickPlan(status=row.status if row else "missing")
    left = quota.remaining(quota.scopes_for(row.service_id, row.provider))
    db.session.rollback()
    if not send_windows.is_open(row.options.get("send_window")):
        return TickPlan(status=row.status)
    # Back-pressure: while the rate timeline is booked far ahead, queued work would only wait.
    accounts = routes.accounts_of(row.channel) if row.provider == routes.ROUTED else [row.provider]
    if pacing.backlog_seconds(accounts, broadcast_id) > cfg["HERALD_RATE_HORIZON_SECONDS"]:
        return TickPlan(status=row.status)
    mine, service_total = inflight.counts(broadcast_id, row.service_id)
    if left == 0:
        return _pause_for_quota(broadcast_id, row.status, mine)
    free = cfg["HERALD_INFLIGHT_BATCHES"] - mine
    service_cap = max(1, int(cfg["HERALD_SERVICE_SHARE"] * cfg["HERALD_MAX_QUEUE_DEPTH"]))
    room = cfg["HERALD_MAX_QUEUE_DEPTH"] - inflight.queue_depth(SEND_QUEUE)
    budget = min(free, service_cap - service_total, room)
    if budget <= 0:
        return TickPlan(status=row.status)
    batch = cfg["HERALD_BATCH_SIZE"]
    route_plan = None
    if row.provider == routes.ROUTED:
        route_plan = routing.plan(row.channel)
        blocked_carriers.refresh(broadcast_id, row.service_id, row.channel, route_plan)
    due = _count_due(broadcast_id, route_plan, budget * batch)
    # A segment broadcast's rows are made here, a page at a time, only when the queue runs low.
    if due < budget * batch and segments_audience.extend(broadcast_id, cfg["HERALD_AUDIENCE_PAGE"],
                                                         cfg["HERALD_MAX_BODY_CHARS"]):
        due = _count_due(broadcast_id, route_plan, budget * batch)
    if due == 0:
        if _finish_if_done(broadcast_id):
            return TickPlan(status=BroadcastStatus.COMPLETED, completed=True)
        if route_plan is not None and not mine and blocked_carriers.pause_if_all_blocked(
                broadcast_id, row.channel, route_plan):
            return TickPlan(status=BroadcastStatus.PAUSED)
        return TickPlan(status=row.status)
    wanted = min(budget, -(-due // batch), budget if left is None else -(-left // batch))
    return TickPlan(status=row.status, slots=inflight.open_slots(broadcast_id, row.service_id, wanted,
                                                                   cfg["HERALD_LEASE_SECONDS"]))


def start_due_broadcasts() -> list:
    """Start every scheduled broadcast whose time has come; return their ids."""
    due = list(db.session.execute(_DUE_SCHEDULED).scalars())
    db.session.rollback()
    return [bid for bid in due
            if broadcast_state.apply(bid, "start", actor="system", reason="scheduled time reached", strict=False)]


def resume_quota_paused() -> list:
    """Resume broadcasts paused for quota once their quota window has room again; return their ids."""
    paused = db.session.execute(_QUOTA_PAUSED).all()
    ready = [row.id for row in paused if quota.remaining(quota.scopes_for(row.service_id, row.provider)) != 0]
    db.session.rollback()
    return [bid for bid in ready
            if broadcast_state.apply(bid, "resume", actor="system", reason="quota window reset", strict=False,
                                    from_reason=PausedReason.QUOTA)]
