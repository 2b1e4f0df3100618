"""Reclaiming rows whose worker died mid-batch, judged by what its call journal says.

A row whose call never started goes back to `pending` with its attempt and quota
given back. A row whose call started is judged by the retry policy as a lost call:
resent with the same key through a gateway that honours keys, otherwise held as
`outcome_unknown`. A journal that Redis no longer has counts every row as started.
A worker that is alive and still holding outcomes (fresh heartbeat) is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.redis_store import get_redis
from app.services import call_journal, message_state, retry_policy
from app.services.retry_policy import Policy, Verdict


@dataclass
class LeaseSweep:
    """What one pass of the lease reaper did."""

    released: int = 0
    reopened: int = 0
    skipped: int = 0
    dead_letter_ids: list[int] = field(default_factory=list)


def release_expired_leases(safe_providers: set[str], policy: Policy, lease_seconds: float,
                           limit: int = 5000) -> LeaseSweep:
    """Settle every expired claim whose worker is gone; commit."""
    rows = message_state.expired_claims(limit)
    if not rows:
        message_state.settle_expired(message_state.ExpiredSettlement())
        return LeaseSweep()
    journals = call_journal.read_journals(list({row.claim_token for row in rows}))
    now = int(get_redis().time()[0])
    plan, sweep = message_state.ExpiredSettlement(), LeaseSweep()
    refunds: dict[str, int] = {}
    for mid, attempts, token, _status, provider in rows:
        journal = journals.get(str(token))
        if journal is not None and journal.heartbeat is not None and now - journal.heartbeat < lease_seconds:
            sweep.skipped += 1
            continue
        if journal is not None and mid not in journal.started:
            plan.released.append(mid)
            refunds[str(token)] = refunds.get(str(token), 0) + 1
            continue
        _judge_lost_call(plan, mid, attempts, provider in safe_providers, policy)
    plan.refunds = [(journals[token].scopes, count) for token, count in refunds.items()]
    sweep.dead_letter_ids = message_state.settle_expired(plan)
    sweep.released, sweep.reopened = len(plan.released), len(plan.reopened)
    # Journals are left to expire: a claim larger than `limit` may still have rows to settle.
    return sweep


def _judge_lost_call(plan: message_state.ExpiredSettlement, mid: int, attempts: int, resend_safe: bool,
                     policy: Policy) -> None:
    """A call that started and was never heard back from: the retry policy decides."""
    lost = retry_policy.lost_call()
    decision = retry_policy.decide(lost, attempts, resend_safe, policy)
    if decision.verdict is Verdict.RETRY:
        plan.reopened.append((mid, decision.delay))
    else:
        plan.dead.append((mid, decision.reason.value, lost.code, lost.detail))
