"""Faults combined the way outages combine them, counted at a gateway that does not deduplicate.

A power cut (every Herald process and both servers SIGKILLed at once), a host reboot (a worker
killed, then Redis killed before the lease ran out), ten SIGKILLs of the bulk worker's pool
children, and a gateway answering 429 with Retry-After at random. Each asserts how many messages
ended in doubt, against how many gateway calls could really have been on the wire.
"""
from __future__ import annotations

import os
import random

import psutil
from fault_stack import SEND_MODES, pause_for, power_back, power_cut, use_mode, wait_ledger, wait_on_the_wire
from herald_testing import recipients

import pytest

# The suite's size; the figures in docs/guarantees.md come from HERALD_FAULT_COUNT=10000 (the size):
# HERALD_FAULT_COUNT=10000 .venv/bin/python scripts/stack.py run -- .venv/bin/python -m pytest -s tests/tasks/test_faults_combined.py
COUNT = int(os.environ.get("HERALD_FAULT_COUNT", "5000"))
# Send lanes that can be on the wire at once: the bulk worker's two pool processes, eight threads each.
LANES = 2 * 8
UNIT = {"per_message": 1, "bulk": int(SEND_MODES["bulk"])}
# Each call stays at the gateway this long, so a cut always finds calls on the wire.
LATENCY_MS = 20


def _settle_and_count(stack, operator, broadcast_id: str, count: int, timeout: float = 240) -> dict:
    """Wait for completion; check nobody was taken twice or lost; return the doubt figures."""
    final = operator.wait_settled(broadcast_id, timeout=timeout)
    ledger, letters = stack.ledger(), operator.dead_letters(broadcast_id)
    unknown = {d["recipient"] for d in letters if d["reason"] == "outcome_unknown"}
    recorded = final["counts"]["sent"] + final["counts"]["delivered"]
    assert ledger["duplicate_recipients"] == []
    assert {d["reason"] for d in letters} <= {"outcome_unknown"}
    assert recorded + len(unknown) == count, (recorded, len(unknown))
    assert set(ledger["by_recipient"]) | unknown == {r["to"] for r in recipients(count)}
    return {"accepted": ledger["accepted"], "requests": ledger["requests"], "recorded": recorded,
            "unknown": len(unknown), "unknown_at_gateway": len(unknown & set(ledger["by_recipient"]))}


@pytest.mark.parametrize("mode", list(SEND_MODES))
def test_a_power_cut_at_forty_percent_leaves_in_doubt_only_the_calls_on_the_wire(faulty, mode):
    servers, stack, operator = faulty
    use_mode(stack, mode)
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": LATENCY_MS})
    broadcast_id = operator.broadcast(COUNT)
    at_cut = wait_on_the_wire(stack, COUNT * 2 // 5, timeout=120)
    power_cut(servers, stack)
    on_wire = max(at_cut["in_flight"], stack.ledger()["in_flight"])
    power_back(servers, stack)
    figures = _settle_and_count(stack, operator, broadcast_id, COUNT)
    assert figures["unknown"] <= LANES * UNIT[mode], figures
    print(f"\n[power cut, {mode}] accepted at the cut {at_cut['accepted']}, requests on the wire {on_wire}; "
          f"final {figures}; bound {LANES} lanes x {UNIT[mode]}")


def test_a_worker_killed_then_redis_killed_within_the_lease(faulty):
    servers, stack, operator = faulty
    use_mode(stack, "per_message")
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": LATENCY_MS})
    broadcast_id = operator.broadcast(COUNT)
    at_kill = wait_on_the_wire(stack, COUNT * 2 // 5, timeout=120)
    stack.kill("worker")
    on_wire = max(at_kill["in_flight"], stack.ledger()["in_flight"])
    pause_for(5)  # inside the 6 s lease: the reaper has not settled the dead worker's claims yet
    servers.kill_redis()
    pause_for(10)
    servers.start_redis()
    stack.start_worker("worker")
    figures = _settle_and_count(stack, operator, broadcast_id, COUNT)
    assert figures["unknown"] <= LANES, figures
    print(f"\n[worker then redis killed] accepted at the kill {at_kill['accepted']}, requests on the wire {on_wire}; "
          f"final {figures}; bound {LANES}")


def _pool_children(stack) -> list[psutil.Process]:
    """The bulk worker's prefork pool processes."""
    return psutil.Process(stack.procs["worker"].pid).children()


def test_ten_sigkills_of_the_bulk_workers_pool_children(faulty):
    _servers, stack, operator = faulty
    use_mode(stack, "bulk")
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": 150})
    broadcast_id = operator.broadcast(COUNT, rate_limit_per_second=1000)
    chooser, requests_on_wire = random.Random(7), 0
    for kill in range(10):
        before = wait_on_the_wire(stack, (kill + 1) * COUNT // 13, timeout=120)["in_flight"]
        chooser.choice(_pool_children(stack)).kill()
        requests_on_wire += max(before, stack.ledger()["in_flight"])
    figures = _settle_and_count(stack, operator, broadcast_id, COUNT)
    # A killed child had at most its own eight lanes' bulk requests on the wire.
    assert figures["unknown"] <= min(requests_on_wire, 10 * 8) * UNIT["bulk"], (figures, requests_on_wire)
    print(f"\n[bulk children killed x10] requests on the wire at the kills {requests_on_wire}; final {figures}")


def test_a_gateways_retry_after_holds_every_lane_of_every_worker(faulty):
    _servers, stack, operator = faulty
    use_mode(stack, "per_message")
    count = 600
    # No rate limit is configured for the account: only the gateway's answers can hold it.
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limited_rate": 0.15, "retry_after_s": 0.5})
    broadcast_id = operator.broadcast(count)
    figures = _settle_and_count(stack, operator, broadcast_id, count, timeout=180)
    ledger = stack.ledger()
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limited_rate": 0.0, "retry_after_s": 0})
    assert figures["unknown"] == 0 and figures["accepted"] == count
    assert ledger["rate_limited"] >= 10, ledger
    assert ledger["inside_retry_after"] == 0, ledger
    print(f"\n[429 with Retry-After 0.5 s to 15% of requests] requests {ledger['requests']}, 429s "
          f"{ledger['rate_limited']}, inside a Retry-After {ledger['inside_retry_after']}, on the wire as it "
          f"was given {ledger['on_the_wire_at_retry_after']}")
