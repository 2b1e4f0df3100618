"""PostgreSQL and Redis stopped mid-broadcast: nothing lost, nothing twice, almost nothing in doubt.

Each run counts at the sandbox's ledger with deduplication off (as at a real gateway),
in both sending modes: one request per message, and bulk requests of 100.
"""
from __future__ import annotations

import time

import pytest
from fault_stack import pause_for, wait_ledger
from herald_testing import recipients

COUNT = 20_000
OUTAGE_SECONDS = 10
# Paced by Herald's own global limit, so the outage lands mid-broadcast in both modes.
STACK_SETTINGS = {"HERALD_RATE_LIMITS": "africastalking=1000"}
MODES = {"per_message": "0", "bulk": "100"}


def _use_mode(stack, mode: str) -> None:
    """Restart the workers sending one request per message, or bulk requests."""
    if stack.env.get("AT_BULK_MAX") != MODES[mode]:
        stack.env["AT_BULK_MAX"] = MODES[mode]
        stack.stop_workers()
        stack.start_workers()


def _assert_everyone_once_and_no_doubt(stack, operator, broadcast_id: str) -> dict:
    """Completed; the gateway took each recipient exactly once; nothing dead-lettered or failed."""
    final = operator.wait_settled(broadcast_id, timeout=150)
    ledger = stack.ledger()
    assert ledger["duplicate_recipients"] == []
    assert set(ledger["by_recipient"]) == {r["to"] for r in recipients(COUNT)}
    assert ledger["accepted"] == COUNT
    counts = final["counts"]
    assert counts["sent"] + counts["delivered"] == COUNT, counts
    assert operator.dead_letters() == []
    return ledger


@pytest.mark.parametrize("mode", list(MODES))
def test_postgres_stopped_mid_broadcast(faulty, mode):
    servers, stack, operator = faulty
    _use_mode(stack, mode)
    broadcast_id = operator.broadcast(COUNT)
    before = wait_ledger(stack, COUNT // 5)["accepted"]
    servers.stop_postgres()
    stopped_at = time.monotonic()
    pause_for(OUTAGE_SECONDS)
    during = stack.ledger()["accepted"]
    servers.start_postgres()
    down = time.monotonic() - stopped_at
    ledger = _assert_everyone_once_and_no_doubt(stack, operator, broadcast_id)
    print(f"\n[postgres {mode}] accepted before stop {before}, by restart {during} ({down:.0f}s down), "
          f"final {ledger['accepted']} (completed {time.monotonic() - stopped_at - down:.0f}s after restart), "
          f"requests {ledger['requests']}, duplicates 0, outcome_unknown 0")


@pytest.mark.parametrize("mode", list(MODES))
def test_redis_killed_mid_broadcast(faulty, mode):
    servers, stack, operator = faulty
    _use_mode(stack, mode)
    broadcast_id = operator.broadcast(COUNT)
    before = wait_ledger(stack, COUNT // 5)["accepted"]
    servers.kill_redis()
    killed_at = time.monotonic()
    pause_for(OUTAGE_SECONDS)
    during = stack.ledger()["accepted"]
    servers.start_redis()
    down = time.monotonic() - killed_at
    ledger = _assert_everyone_once_and_no_doubt(stack, operator, broadcast_id)
    print(f"\n[redis {mode}] accepted before kill {before}, by restart {during} ({down:.0f}s down), "
          f"final {ledger['accepted']} (completed {time.monotonic() - killed_at - down:.0f}s after restart), "
          f"requests {ledger['requests']}, duplicates 0, outcome_unknown 0")
