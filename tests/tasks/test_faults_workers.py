"""Worker processes SIGKILLed mid-broadcast, pause under a gateway's Retry-After, racing lifecycle calls,
and cancel under temporary failures, against a gateway that does not deduplicate.

Counted at the sandbox's ledger: nothing twice, nothing silently lost, and no more
messages in doubt than gateway calls that were really in flight when a worker died.
"""
from __future__ import annotations

import threading
import time

import psycopg2
import requests
from fault_stack import redis_flag, use_mode, wait_ledger
from herald_testing import recipients, wait_until

from scripts.testbed import CONTROL_QUEUES

KILLS = 10
KILL_COUNT = 3000


def _restart(stack, name: str) -> None:
    """Start a killed worker again with its own queues."""
    if name == "worker-control":
        stack.start_worker(name, queues=CONTROL_QUEUES, concurrency=2)
    else:
        stack.start_worker(name)


def test_ten_sigkills_across_bulk_and_control_workers(faulty):
    _servers, stack, operator = faulty
    use_mode(stack, "per_message")
    # Each call stays in flight at the gateway for 150 ms, so every kill cuts live calls, and the
    # gateway's count of held answers read just before and just after the kill is what was cut.
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": 150})
    broadcast_id = operator.broadcast(KILL_COUNT)
    in_flight_at_kills = 0
    for kill in range(KILLS):
        wait_ledger(stack, (kill + 1) * KILL_COUNT // (KILLS + 3), timeout=120)
        name = "worker" if kill % 2 == 0 else "worker-control"
        before = stack.ledger()["in_flight"]
        stack.kill(name)
        in_flight_at_kills += max(before, stack.ledger()["in_flight"])
        _restart(stack, name)
    final = operator.wait_settled(broadcast_id, timeout=240)
    ledger, letters = stack.ledger(), operator.dead_letters(broadcast_id)
    unknown = {d["recipient"] for d in letters if d["reason"] == "outcome_unknown"}
    recorded = final["counts"]["sent"] + final["counts"]["delivered"]
    assert {d["reason"] for d in letters} <= {"outcome_unknown"}
    assert ledger["duplicate_recipients"] == []
    at_gateway = len(unknown & set(ledger["by_recipient"]))
    assert len(unknown) <= in_flight_at_kills, (len(unknown), at_gateway, in_flight_at_kills)
    assert recorded + len(unknown) == KILL_COUNT
    # Nothing vanished: every recipient is either taken by the gateway or held for the operator.
    assert set(ledger["by_recipient"]) | unknown == {r["to"] for r in recipients(KILL_COUNT)}
    print(f"\n[sigkill x{KILLS}] accepted {ledger['accepted']} of {KILL_COUNT}, duplicates 0, recorded {recorded}, "
          f"outcome_unknown {len(unknown)} (of which at the gateway {at_gateway}), "
          f"calls in flight at the kills {in_flight_at_kills}")


def _events_after(stack, moment: float) -> list:
    """Every request the gateway saw after `moment` (unix time), whatever it answered."""
    return stack.sandbox("GET", "/_sandbox/events", params={"since": moment, "limit": 100000})["events"]


def test_pause_holds_while_the_gateway_answers_429_with_retry_after(faulty):
    _servers, stack, operator = faulty
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limit_per_s": 40, "retry_after_s": 4})
    broadcast_id = operator.broadcast(3000)
    wait_until(lambda: stack.ledger()["rate_limited"] >= 3, 60, 0.05, "the gateway to answer 429")
    response = operator.call("POST", f"/v1/broadcasts/{broadcast_id}/pause")
    returned = time.time()
    assert response.status_code == 200, response.text
    time.sleep(7)  # longer than Retry-After (4 s): a lane that slept through the pause wakes in here
    late = _events_after(stack, returned + 1.0)
    assert late == [], f"{len(late)} gateway calls started more than 1 s after pause returned"
    last = _events_after(stack, returned - 0.001)
    print(f"\n[pause under 429] calls after pause returned: {len(last)}, the last "
          f"{(max(e['t'] for e in last) - returned) if last else 0:.3f}s after")
    assert operator.call("POST", f"/v1/broadcasts/{broadcast_id}/resume").status_code == 200
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limit_per_s": 0, "retry_after_s": 0})
    operator.wait_settled(broadcast_id, timeout=120)
    ledger = stack.ledger()
    assert ledger["accepted"] == 3000 and ledger["duplicate_recipients"] == []


def _stored_status(database_url: str, broadcast_id: str) -> str:
    """'<status>:<version>' as PostgreSQL has it."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status, status_version FROM broadcasts WHERE id = %s", (broadcast_id,))
            status, version = cur.fetchone()
    finally:
        conn.close()
    return f"{status}:{version}"


def _pause_resume_pairs(operator, broadcast_id: str, pairs: int, codes: list) -> None:
    """One client's pause/resume pairs, each answer's status kept."""
    session = requests.Session()
    for _ in range(pairs):
        for verb in ("pause", "resume"):
            codes.append(session.post(f"{operator.url}/v1/broadcasts/{broadcast_id}/{verb}",
                                      headers=operator.headers, timeout=30).status_code)


def test_fifty_concurrent_pause_resume_pairs_leave_flag_and_database_agreeing(faulty):
    servers, stack, operator = faulty
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": 5})
    broadcast_id = operator.broadcast(3000)
    wait_ledger(stack, 200)
    codes: list[int] = []
    clients = [threading.Thread(target=_pause_resume_pairs, args=(operator, broadcast_id, 25, codes))
               for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(120)
    assert len(codes) == 100 and set(codes) <= {200, 409}
    assert redis_flag(servers.redis_url, broadcast_id) == _stored_status(servers.database_url, broadcast_id)
    if operator.summary(broadcast_id)["status"] == "paused":
        assert operator.call("POST", f"/v1/broadcasts/{broadcast_id}/resume").status_code == 200
    operator.wait_settled(broadcast_id, timeout=120)
    ledger = stack.ledger()
    assert ledger["accepted"] == 3000 and ledger["duplicate_recipients"] == []
    print(f"\n[pause/resume x50 pairs] answers 200: {codes.count(200)}, 409: {codes.count(409)}; flag == database")


def test_cancel_under_half_temporary_failures_leaves_nothing_pending(faulty):
    _servers, stack, operator = faulty
    stack.sandbox("POST", "/_sandbox/config", json={"temp_failure_rate": 0.5, "latency_ms": 5})
    broadcast_id = operator.broadcast(3000)
    wait_ledger(stack, 300)
    assert operator.call("POST", f"/v1/broadcasts/{broadcast_id}/cancel").status_code == 200

    def drained():
        summary = operator.summary(broadcast_id)
        return summary if summary["counts"]["pending"] + summary["counts"]["processing"] == 0 else None
    final = wait_until(drained, 30, 0.5, "pending and processing to reach 0 after cancel")
    assert final["status"] == "cancelled" and final["counts"]["cancelled"] > 0
    assert stack.ledger()["duplicate_recipients"] == []
