"""Unknown outcomes through a gateway that does not honour idempotency keys: held, never resent.

The sandbox takes a request (and counts it in its ledger) before it answers, so
a read timeout or a killed worker leaves sends that reached the gateway while
Herald never heard back. Herald must not send any of them again by itself.
"""
from __future__ import annotations

from herald_testing import wait_until
from pipeline_checks import start_broadcast, summary, wait_completed

STACK_SETTINGS = {"AT_HONOURS_IDEMPOTENCY_KEY": "0", "AT_READ_TIMEOUT": "1.0"}


def open_dead_letters(client, service) -> list[dict]:
    """Every open dead letter of the service (one page holds them here)."""
    return client.get("/v1/dead-letters?limit=1000", headers=service.headers).json["dead_letters"]


def test_read_timeouts_are_dead_lettered_as_outcome_unknown_and_not_resent(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 2000, "honour_idempotency": False})
    count = 12
    broadcast_id = start_broadcast(client, service, count)
    final = wait_completed(client, service, broadcast_id, timeout=90)
    letters = open_dead_letters(client, service)
    assert len(letters) == count
    assert {(d["reason"], d["error_code"]) for d in letters} == {("outcome_unknown", "read_timeout")}
    assert final["counts"]["failed"] == count
    ledger = gateway.ledger()
    # The gateway took every one of them once; Herald tried each exactly once.
    assert ledger["accepted"] == count and ledger["duplicate_recipients"] == []
    assert {d["attempts"] for d in letters} == {1}

    # Requeue is the operator's decision to risk a duplicate; it sends that one message again.
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 0})
    assert client.post(f"/v1/dead-letters/{letters[0]['id']}/requeue", headers=service.headers).status_code == 200
    wait_until(lambda: gateway.ledger()["accepted"] == count + 1, 30, 0.2, "the requeued message to be sent")
    assert gateway.ledger()["by_recipient"][letters[0]["recipient"]] == 2


def test_a_worker_killed_mid_call_leaves_its_claims_dead_lettered_not_resent(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 100, "honour_idempotency": False})
    count = 1500
    broadcast_id = start_broadcast(client, service, count)
    wait_until(lambda: (lambda c: c["processing"] > 0 and c["sent"] + c["delivered"] > 0)(
        summary(client, service, broadcast_id)["counts"]), 60, 0.05, "a batch in flight after a first one")
    gateway.kill("worker")
    gateway.start_worker()
    final = wait_completed(client, service, broadcast_id, timeout=150)
    unknown = [d for d in open_dead_letters(client, service) if d["reason"] == "outcome_unknown"]
    assert unknown and {d["error_code"] for d in unknown} == {"lease_expired"}
    recorded = final["counts"]["sent"] + final["counts"]["delivered"]
    assert recorded + len(unknown) == count
    ledger = gateway.ledger()
    assert ledger["duplicate_recipients"] == []
    # What the gateway took beyond what Herald recorded is exactly among the held-back messages.
    held = {d["recipient"] for d in unknown}
    taken_unrecorded = ledger["accepted"] - recorded
    assert 0 <= taken_unrecorded <= len(unknown)
    assert sum(1 for to in held if ledger["by_recipient"].get(to)) == taken_unrecorded
