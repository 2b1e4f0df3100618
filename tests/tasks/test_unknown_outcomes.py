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

    # Requeue is the operator's explicit decision to risk a duplicate: refused without force.
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 0})
    refused = client.post(f"/v1/dead-letters/{letters[0]['id']}/requeue", headers=service.headers)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "outcome_unknown_requires_force"
    assert refused.json["error"]["details"]["field"] == "force"
    forced = client.post(f"/v1/dead-letters/{letters[0]['id']}/requeue", headers=service.headers,
                         json={"force": True})
    assert forced.status_code == 200
    wait_until(lambda: gateway.ledger()["accepted"] == count + 1, 30, 0.2, "the requeued message to be sent")
    assert gateway.ledger()["by_recipient"][letters[0]["recipient"]] == 2

    # In bulk, by broadcast and reason: refused without force, nothing changed; then discarded together.
    bulk = client.post("/v1/dead-letters/requeue", headers=service.headers,
                       json={"broadcast_id": broadcast_id, "reason": "outcome_unknown"})
    assert bulk.status_code == 409 and bulk.json["error"]["details"]["outcome_unknown"] == count - 1
    assert len(open_dead_letters(client, service)) == count - 1
    bad = client.post("/v1/dead-letters/discard", headers=service.headers, json={"reason": "lost"})
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "reason"
    discarded = client.post("/v1/dead-letters/discard", headers=service.headers,
                            json={"broadcast_id": broadcast_id, "reason": "outcome_unknown"})
    assert discarded.status_code == 200 and discarded.json == {"discarded": count - 1}
    assert open_dead_letters(client, service) == []
    actions = [row["action"] for row in client.get(f"/v1/broadcasts/{broadcast_id}/audit",
                                                   headers=service.headers).json["audit"]]
    assert "discard_dead_letters" in actions


def test_a_worker_killed_mid_call_leaves_its_claims_dead_lettered_not_resent(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 100, "honour_idempotency": False})
    count = 1500
    broadcast_id = start_broadcast(client, service, count)
    wait_until(lambda: (lambda c: c["processing"] > 0 and c["sent"] + c["delivered"] > 0)(
        summary(client, service, broadcast_id)["counts"]), 60, 0.05, "a batch in flight after a first one")
    # Kill while calls are really at the gateway (answers held back by its latency), so some are cut.
    wait_until(lambda: gateway.ledger()["in_flight"] >= 4, 30, 0.01, "calls in flight at the gateway")
    gateway.kill("worker")
    gateway.start_worker()
    final = wait_completed(client, service, broadcast_id, timeout=150)
    unknown = [d for d in open_dead_letters(client, service) if d["reason"] == "outcome_unknown"]
    assert unknown and {d["error_code"] for d in unknown} == {"lease_expired"}
    # Only calls cut in flight are in doubt: at most one per send lane of the killed worker (2 processes x 8).
    assert len(unknown) <= 16
    recorded = final["counts"]["sent"] + final["counts"]["delivered"]
    assert recorded + len(unknown) == count
    ledger = gateway.ledger()
    assert ledger["duplicate_recipients"] == []
    # What the gateway took beyond what Herald recorded is exactly among the held-back messages.
    held = {d["recipient"] for d in unknown}
    taken_unrecorded = ledger["accepted"] - recorded
    assert 0 <= taken_unrecorded <= len(unknown)
    assert sum(1 for to in held if ledger["by_recipient"].get(to)) == taken_unrecorded
