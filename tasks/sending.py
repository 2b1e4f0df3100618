"""Send tasks: claim a batch, call the gateway, record every outcome in bulk.

No transaction is open while the gateway is called: the claim commits first,
the results are written after, and both are guarded by the claim token.
"""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app.queueing import enqueue
from app.services import guard, inflight, message_state, optouts, pacing, quota, send_windows, throughput
from app.services.retry_policy import Policy, judge_batch
from app.services.gateways import gateway
from app.extensions import db
from app.models import Message
from app.services.send_context import load_send_context, outbound_messages, transactional_messages
from tasks.batch_runner import run_batch
from tasks import durable_outcomes

log = logging.getLogger(__name__)
# A transactional message given back unsent (no rate slot yet, a gateway breaker open) is tried again after this.
_RELEASED_RETRY_SECONDS = 1.0


def _send_and_record(claim, account: str, messages, broadcast_id: str | None, cfg,
                     pacer) -> message_state.BatchOutcome:
    """Call the account's gateway for claimed messages and write every outcome in one transaction."""
    lease = cfg["HERALD_LEASE_SECONDS"]
    provider = gateway(account)
    run = run_batch(provider, account, messages, claim.token, broadcast_id, time_budget=lease * 0.5,
                    threads=cfg["HERALD_SEND_THREADS"], pacer=pacer, journal_ttl=message_state.journal_ttl(lease))
    if run.stop_reason and run.stop_reason not in ("status", "deadline"):
        log.warning("batch %s stopped early: %s", claim.token, run.stop_reason)
    attempts = {row.id: row.attempts for row in claim.rows}
    outcome = judge_batch(claim.token, [m.message_id for m in messages], run.results, attempts,
                          provider.honours_idempotency_key, Policy.from_config(cfg))
    outcome.scopes = claim.scopes
    dead_letter_ids = durable_outcomes.write(outcome, lease, cfg["HERALD_OUTCOME_WRITE_SECONDS"])
    if dead_letter_ids:
        enqueue(current_app, "tasks.dead_letters.announce_dead_letters", dead_letter_ids)
    return outcome


def deliver_batch(broadcast_id: str) -> int:
    """Claim, send and record one batch of a broadcast; return how many the gateway accepted."""
    cfg = current_app.config
    if not guard.may_send(broadcast_id):
        return 0
    context = load_send_context(broadcast_id)
    if not send_windows.is_open(context.send_window):
        return 0
    scopes = quota.scopes_for(context.service_id, context.provider)
    claim = message_state.claim_batch(broadcast_id, cfg["HERALD_BATCH_SIZE"], cfg["HERALD_LEASE_SECONDS"], scopes)
    if not claim.rows:
        return 0
    # Opt-outs received since intake: the whole claimed batch is looked up in one query.
    claim.rows = optouts.drop_suppressed(claim, context.service_id, context.channel)
    if not claim.rows:
        return 0
    pacer = pacing.pacer_for(context.provider, broadcast_id, context.rate_limit_per_second)
    outcome = _send_and_record(claim, context.provider, outbound_messages(context, claim.rows),
                               broadcast_id, cfg, pacer)
    throughput.note_sent(broadcast_id, len(outcome.sent))
    return len(outcome.sent)


@shared_task(name="tasks.sending.send_batch")
def send_batch(broadcast_id: str, slot: str) -> None:
    """One producer slot's worth of sending; always frees the slot and asks for the next tick."""
    try:
        inflight.renew(broadcast_id, slot, current_app.config["HERALD_LEASE_SECONDS"])
        deliver_batch(broadcast_id)
    finally:
        inflight.close(broadcast_id, slot)
        enqueue(current_app, "tasks.fanout.broadcast_tick", broadcast_id)


@shared_task(name="tasks.sending.send_priority")
def send_priority(message_id: int) -> None:
    """Send one transactional message now; a temporary failure comes back after its backoff."""
    cfg = current_app.config
    target = db.session.get(Message, message_id)
    if target is None or target.broadcast_id is not None or target.status != "pending":
        db.session.rollback()
        return
    provider_name, scopes = target.provider, quota.scopes_for(target.service_id, target.provider)
    claim = message_state.claim_transactional(message_id, cfg["HERALD_LEASE_SECONDS"], scopes)
    if not claim.rows:
        return
    outcome = _send_and_record(claim, provider_name, transactional_messages(claim.rows), None, cfg,
                               pacing.pacer_for(provider_name))
    # Back in the queue: wake it when it is due (beat's requeue_transactional is the safety net).
    for delay in [d for _mid, d, *_ in outcome.retry] + [d for _mid, d in outcome.deferred]:
        send_priority.apply_async((message_id,), countdown=delay)
    if outcome.released:
        send_priority.apply_async((message_id,), countdown=_RELEASED_RETRY_SECONDS)
