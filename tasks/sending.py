"""Send tasks: claim a batch, call the gateway, record every outcome in bulk.

No transaction is open while the gateway is called: the claim commits first,
the results are written after, and both are guarded by the claim token.
"""
from __future__ import annotations

import logging
import time

from celery import shared_task
from flask import current_app

from app.queueing import enqueue
from app.services.audience import optouts
from app.services.limits import quota, send_windows
from app.services.reports import throughput
from app.services.channels import registry, routes
from app.services.sending import blocked_carriers, inflight, pacing, routing
from app.services.state import claims, guard, outcomes
from app.services.sending.retry_policy import Policy, judge_batch
from app.services.control.gateways import gateway
from app.extensions import db
from app.models import Message
from app.statuses import MessageStatus
from app.services.sending.send_context import load_send_context, outbound_messages, transactional_messages
from tasks.batch_runner import run_batch
from providers.base import OutboundMessage
from tasks import durable_outcomes

log = logging.getLogger(__name__)
# A transactional message given back unsent (no rate slot yet, a gateway breaker open) is tried again after this.
_RELEASED_RETRY_SECONDS = 1.0


def _send_and_record(claim, sends: list[tuple[str, list[OutboundMessage], pacing.Pacer]],
                     broadcast_id: str | None, cfg, optout_key: str | None = None) -> outcomes.BatchOutcome:
    """Call each account's gateway for its share of the claim, then write every outcome in one transaction."""
    lease = cfg["HERALD_LEASE_SECONDS"]
    deadline = time.monotonic() + lease * 0.5
    attempts = {row.id: row.attempts for row in claim.rows}
    outcome = outcomes.BatchOutcome(claim.token, scopes=claim.scopes)
    for account, messages, pacer in sends:
        provider = gateway(account)
        run = run_batch(account, provider, messages, claim.token, broadcast_id,
                        time_budget=deadline - time.monotonic(), threads=cfg["HERALD_SEND_THREADS"], pacer=pacer,
                        journal_ttl=claims.journal_ttl(lease), optout_key=optout_key)
        if run.stop_reason and run.stop_reason not in ("status", "deadline"):
            log.warning("batch %s stopped early on %s: %s", claim.token, account, run.stop_reason)
        outcome.extend(judge_batch(claim.token, [m.message_id for m in messages], run.results, attempts,
                                   provider.honours_idempotency_key, Policy.from_config(cfg)))
    dead_letter_ids = durable_outcomes.write(outcome, lease, cfg["HERALD_OUTCOME_WRITE_SECONDS"])
    if dead_letter_ids:
        enqueue(current_app, "tasks.dead_letters.announce_dead_letters", dead_letter_ids)
    return outcome


def _by_account(rows, messages: list[OutboundMessage], default: str) -> dict[str, list[OutboundMessage]]:
    """Split a claim's messages by the account each row was routed to (the broadcast's own if unrouted)."""
    shares: dict[str, list[OutboundMessage]] = {}
    for row, message in zip(rows, messages):
        shares.setdefault(row.provider or default, []).append(message)
    return shares


def deliver_batch(broadcast_id: str) -> int:
    """Claim, send and record one batch of a broadcast; return how many the gateway accepted."""
    cfg = current_app.config
    if not guard.may_send(broadcast_id):
        return 0
    context = load_send_context(broadcast_id)
    if not send_windows.is_open(context.send_window):
        return 0
    scopes = quota.scopes_for(context.service_id, context.provider)
    route_plan = routing.plan(context.channel) if context.provider == routes.ROUTED else None
    claim = claims.claim_batch(broadcast_id, cfg["HERALD_BATCH_SIZE"], cfg["HERALD_LEASE_SECONDS"], scopes,
                                      route_plan)
    if claim.dead_letters:
        enqueue(current_app, "tasks.dead_letters.announce_dead_letters", claim.dead_letters)
    if not claim.rows:
        blocked_carriers.note_empty_claim(broadcast_id)
        return 0
    # Opt-outs received since intake: the whole claimed batch is looked up in one query.
    claim.rows = optouts.drop_suppressed(claim, context.service_id, context.channel)
    if not claim.rows:
        return 0
    shares = _by_account(claim.rows, outbound_messages(context, claim.rows), context.provider)
    sends = [(account, messages, pacing.pacer_for(account, broadcast_id, context.rate_limit_per_second))
             for account, messages in shares.items()]
    outcome = _send_and_record(claim, sends, broadcast_id, cfg,
                               optouts.recent_key(context.service_id, context.channel))
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


def _consult_suppression(claim, channel: str) -> str | None:
    """The suppression list for a claimed transactional message, right before its call.

    A message that is not exempt is closed `opted_out` if its recipient opted out since intake, and
    the call checks the STOPs that land meanwhile (the key returned). An exempt one (service-critical,
    an opt-out's confirmation) goes out, audited if its recipient is on the list now.
    """
    row = claim.rows[0]
    if row.suppression_exempt is None:
        claim.rows = optouts.drop_suppressed(claim, row.service_id, channel)
        return optouts.recent_key(row.service_id, channel)
    if optouts.is_suppressed(row.service_id, channel, row.recipient):
        optouts.audit_override(row.service_id, row.id, row.suppression_exempt, "send_priority", "send")
        db.session.commit()
    else:
        db.session.rollback()
    return None


@shared_task(name="tasks.sending.send_priority")
def send_priority(message_id: int) -> None:
    """Send one transactional message now; a temporary failure comes back after its backoff."""
    cfg = current_app.config
    target = db.session.get(Message, message_id)
    if target is None or target.broadcast_id is not None or target.status != MessageStatus.PENDING:
        db.session.rollback()
        return
    # Rows stored before messages kept their channel are of the default one (the only one sent then).
    channel = target.channel or registry.DEFAULT
    routed = target.provider == routes.ROUTED or target.route is not None
    scopes = quota.scopes_for(target.service_id, routes.ROUTED if routed else target.provider)
    claim = claims.claim_transactional(message_id, cfg["HERALD_LEASE_SECONDS"], scopes,
                                              routing.plan(channel) if routed else None)
    if claim.dead_letters:
        enqueue(current_app, "tasks.dead_letters.announce_dead_letters", claim.dead_letters)
    if not claim.rows:
        return
    optout_key = _consult_suppression(claim, channel)
    if not claim.rows:
        return
    # A routed message names the account it was routed to now (the claim wrote it on the row).
    provider_name = claim.rows[0].provider
    outcome = _send_and_record(claim, [(provider_name, transactional_messages(claim.rows),
                                        pacing.pacer_for(provider_name))], None, cfg, optout_key)
    # Back in the queue: wake it when it is due (beat's requeue_transactional is the safety net).
    for delay in [d for _mid, d, *_ in outcome.retry] + [d for _mid, d in outcome.deferred]:
        send_priority.apply_async((message_id,), countdown=delay)
    if outcome.released:
        send_priority.apply_async((message_id,), countdown=_RELEASED_RETRY_SECONDS)
