"""Settling claims whose worker died mid-batch, from what its call journal says.

Each expired claim is judged as its worker would have judged it (retry_policy.judge_batch):
an answer the journal holds is recorded as if the worker had written it; a row whose call
never started goes back to `pending` with its attempt and quota given back; a call that
started and has no answer is a lost call, resent with the same key only through a gateway
that honours keys, otherwise held as `outcome_unknown`. A journal that Redis no longer has
counts every row as a lost call. A worker that is alive and still holding outcomes (fresh
heartbeat) is left alone; any other claim is fenced before it is read (its journal refuses new
calls), so a worker that is slow rather than dead cannot start a call the reaper does not see.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from app.services.sending import retry_policy
from app.services.state import call_journal, claims, outcomes
from app.services.sending.retry_policy import Policy


@dataclass
class LeaseSweep:
    """What one pass of the lease reaper did."""

    released: int = 0
    recorded: int = 0
    retried: int = 0
    skipped: int = 0
    dead_letter_ids: list[int] = field(default_factory=list)


def release_expired_leases(safe_providers: set[str], policy: Policy, lease_seconds: float,
                           limit: int = 5000) -> LeaseSweep:
    """Settle every expired claim whose worker is gone, one claim per transaction."""
    rows = claims.expired_claims(limit)
    sweep = LeaseSweep()
    by_claim: dict = defaultdict(list)
    for row in rows:
        by_claim[row.claim_token].append(row)
    journals = call_journal.fence_journals(list(by_claim), lease_seconds) if by_claim else {}
    judged = []
    for token, claimed in by_claim.items():
        journal = journals.get(str(token))
        if journal == call_journal.ALIVE:
            sweep.skipped += len(claimed)
            continue
        judged.append(_judge_claim(token, claimed, journal, safe_providers, policy))
    # The rows stay locked by expired_claims until the first write commits; later claims go unlocked,
    # which is safe: every write is guarded by the claim token and the row still being `processing`.
    for outcome in judged or [None]:
        ids = outcomes.record_outcome(outcome) if outcome else outcomes.settle_nothing()
        _tally(sweep, outcome, ids)
    call_journal.close_journals([outcome.token for outcome in judged])
    return sweep


def _judge_claim(token, claimed: list, journal: call_journal.Journal | None, safe_providers: set[str],
                 policy: Policy) -> outcomes.BatchOutcome:
    """The outcome the dead worker would have written, as far as its journal tells."""
    results = {}
    for row in claimed:
        if journal is not None and row.id in journal.answers:
            results[row.id] = journal.answers[row.id]
        elif journal is None or row.id in journal.started:
            results[row.id] = retry_policy.lost_call()
    attempts = {row.id: row.attempts for row in claimed}
    outcome = outcomes.BatchOutcome(token, scopes=journal.scopes if journal is not None else [])
    # A routed claim may span accounts: whether a resend is safe is each row's account's to say.
    for provider in sorted({row.provider for row in claimed}, key=str):
        ids = [row.id for row in claimed if row.provider == provider]
        outcome.extend(retry_policy.judge_batch(token, ids, results, attempts, provider in safe_providers, policy))
    return outcome


def _tally(sweep: LeaseSweep, outcome: outcomes.BatchOutcome | None, dead_letter_ids: list[int]) -> None:
    """Add one claim's settlement to the sweep's figures."""
    if outcome is None:
        return
    sweep.released += len(outcome.released)
    sweep.recorded += len(outcome.sent)
    sweep.retried += len(outcome.retry) + len(outcome.deferred)
    sweep.dead_letter_ids.extend(dead_letter_ids)
