"""Beat-driven cleanup: the reconciler, the lease reaper, and the circuit breakers' probes."""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app.queueing import enqueue
from app.services.control import dispatch
from app.services.sending import blocked_carriers, breaker, lease_reaper
from app.services.state import claims, guard, message_state
from app.services.control.gateways import gateway, resend_safe_providers
from app.services.sending.retry_policy import Policy
from providers.base import SendError

log = logging.getLogger(__name__)
# Longest one beat run may hold the probing turn (a probe is bounded by the adapter's timeouts).
_PROBE_TURN_SECONDS = 30.0


@shared_task(name="tasks.maintenance.reconcile_broadcasts")
def reconcile_broadcasts() -> int:
    """Tick every running broadcast, so work lost from the broker is rebuilt from PostgreSQL."""
    running = dispatch.running_broadcasts()
    for broadcast_id in running:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return len(running)


@shared_task(name="tasks.maintenance.release_expired_leases")
def release_expired_leases() -> dict:
    """Reclaim rows whose worker died: unattempted ones go back, attempted ones as the retry policy says."""
    cfg = current_app.config
    sweep = lease_reaper.release_expired_leases(resend_safe_providers(), Policy.from_config(cfg),
                                                cfg["HERALD_LEASE_SECONDS"])
    if sweep.dead_letter_ids:
        enqueue(current_app, "tasks.dead_letters.announce_dead_letters", sweep.dead_letter_ids)
    if sweep.released or sweep.recorded or sweep.retried or sweep.dead_letter_ids:
        log.warning("expired leases: %d given back unattempted, %d recorded from the journal, %d to retry, "
                    "%d dead-lettered, %d left to a live worker", sweep.released, sweep.recorded, sweep.retried,
                    len(sweep.dead_letter_ids), sweep.skipped)
    return {"released": sweep.released, "recorded": sweep.recorded, "retried": sweep.retried,
            "dead": len(sweep.dead_letter_ids), "skipped": sweep.skipped}


@shared_task(name="tasks.maintenance.reconcile_status_flags")
def reconcile_status_flags() -> dict:
    """Repair status flags from PostgreSQL and cancel rows that slipped back to pending during a cancel."""
    return dict(flags=guard.reconcile(), cancelled=message_state.cancel_stragglers())


@shared_task(name="tasks.maintenance.advance_schedules")
def advance_schedules() -> dict:
    """Start scheduled broadcasts whose time has come; resume quota-paused ones after a reset."""
    started = dispatch.start_due_broadcasts()
    resumed = dispatch.resume_quota_paused()
    for broadcast_id in started + resumed:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return {"started": len(started), "resumed": len(resumed)}


@shared_task(name="tasks.maintenance.requeue_transactional")
def requeue_transactional() -> int:
    """Re-enqueue transactional messages whose wake-up was lost (a flushed broker, a dead worker)."""
    due = claims.due_transactional(grace_seconds=5.0)
    for message_id in due:
        enqueue(current_app, "tasks.sending.send_priority", message_id)
    return len(due)


@shared_task(name="tasks.maintenance.probe_gateways")
def probe_gateways() -> dict:
    """Probe each account whose breaker is open; resume what recovered, pause what runs on an open one."""
    if breaker.take_probe_turn(_PROBE_TURN_SECONDS):
        try:
            for account in breaker.open_accounts():
                breaker.note_probe(account, _probe(account))
        finally:
            breaker.end_probe_turn()
    resumed = breaker.resume_recovered() + blocked_carriers.resume_unblocked()
    paused = breaker.pause_while_open()
    for broadcast_id in resumed:
        enqueue(current_app, "tasks.fanout.broadcast_tick", str(broadcast_id))
    return dict(resumed=len(resumed), paused=len(paused))


def _probe(account: str) -> SendError | None:
    """One probe of an account's gateway: None if it got through, else what stopped it."""
    try:
        gateway(account).probe()
    except SendError as exc:
        log.info("probe of %s failed: %s", account, exc)
        return exc
    return None
