"""PostgreSQL and Redis stopped mid-broadcast: nothing lost, nothing twice, almost nothing in doubt.

Each run counts at the sandbox's ledger with deduplication off (as at a real gateway),
in both sending modes: one request per message, and bulk requests of 100.
"""
from __future__ import annotations

import os
import time

import pytest
from fault_stack import SEND_MODES, pause_for, use_mode, wait_ledger
from herald_testing import recipients

# 12,000 at 1,500/s: the outage lands a fifth of the way in, with most of the broadcast still to send.
COUNT = int(os.environ.get("HERALD_SERVER_FAULT_COUNT", "12000"))
OUTAGE_SECONDS = 10
# The broadcast's own rate limit paces it, so the outage lands mid-broadcast in both modes.
RATE = 1500


def _assert_everyone_once_and_no_doubt(stack, operator, broadcast_id: str) -> dict:
    """Completed; the gateway took each recipient exactly once; nothing dead-lettered or failed."""
    final = operator.wait_settled(broadcast_id, timeout=150)
    ledger = stack.ledger()
    assert ledger["duplicate_recipients"] == []
    assert set(ledger["by_recipient"]) == {r["to"] for r in recipients(COUNT)}
    assert ledger["accepted"] == COUNT
    counts = final["counts"]
    assert counts["sent"] + counts["delivered"] == COUNT, counts
    assert operator.dead_letters(broadcast_id) == []
    return ledger


# Each fault: how to bring the server down, and back up (Redis comes back empty, as one without persistence would).
FAULTS = {"postgres_stopped": ("stop_postgres", "start_postgres"), "redis_killed": ("kill_redis", "start_redis_empty")}


@pytest.mark.parametrize("mode", list(SEND_MODES))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_server_down_for_ten_seconds_mid_broadcast(faulty, fault, mode):
    servers, stack, operator = faulty
    use_mode(stack, mode)
    broadcast_id = operator.broadcast(COUNT, rate_limit_per_second=RATE)
    before = wait_ledger(stack, COUNT // 5)["accepted"]
    down, up = FAULTS[fault]
    getattr(servers, down)()
    downed_at = time.monotonic()
    pause_for(OUTAGE_SECONDS)
    during = stack.ledger()["accepted"]
    getattr(servers, up)()
    outage = time.monotonic() - downed_at
    ledger = _assert_everyone_once_and_no_doubt(stack, operator, broadcast_id)
    print(f"\n[{fault} {mode}] accepted before {before}, by restart {during} ({outage:.0f}s down), "
          f"final {ledger['accepted']} (completed {time.monotonic() - downed_at - outage:.0f}s after restart), "
          f"requests {ledger['requests']}, duplicates 0, dead letters 0, outcome_unknown 0")
