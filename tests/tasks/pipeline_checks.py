"""Assertions and polling shared by the pipeline test modules."""
from __future__ import annotations

from herald_testing import recipients, wait_until


def start_broadcast(client, service, count: int, start: int = 0, **extra) -> str:
    """POST a broadcast of `count` recipients and return its id."""
    response = client.post("/v1/broadcasts", headers=service.headers,
                           json={"channel": "sms", "body": "Planting advisory: rains from Monday",
                                 "recipients": recipients(count, start), **extra})
    assert response.status_code == 202, response.json
    return response.json["id"]


def summary(client, service, broadcast_id: str) -> dict:
    """GET the broadcast."""
    return client.get(f"/v1/broadcasts/{broadcast_id}", headers=service.headers).json


def gone_out(s: dict) -> int:
    """Messages the gateway has taken so far: `sent`, or already moved on by their delivery report
    (a report that arrives while its batch is still being sent is applied as the send is recorded)."""
    return sum(s["counts"][status] for status in ("sent", "delivered", "unreachable", "unknown_delivery"))


def wait_status(client, service, broadcast_id: str, status: str, timeout: float) -> dict:
    """Wait until the broadcast reaches a status."""
    return wait_until(lambda: (lambda s: s if s["status"] == status else None)(
        summary(client, service, broadcast_id)), timeout, 0.3, f"broadcast to be {status}")


def wait_completed(client, service, broadcast_id: str, timeout: float) -> dict:
    """Wait until the broadcast completes."""
    return wait_status(client, service, broadcast_id, "completed", timeout)


def audit(client, service, broadcast_id: str) -> list[tuple]:
    """(actor kind, action, to_status, reason) of each audit row, in order."""
    rows = client.get(f"/v1/broadcasts/{broadcast_id}/audit", headers=service.headers).json["audit"]
    return [(row["actor"].split(":")[0], row["action"], row["to_status"], row["reason"]) for row in rows]


def assert_each_accepted_once(ledger: dict, count: int, start: int = 0) -> None:
    """The gateway took every recipient exactly once."""
    expected = {r["to"] for r in recipients(count, start)}
    assert ledger["duplicate_recipients"] == []
    assert set(ledger["by_recipient"]) == expected
    assert all(n == 1 for n in ledger["by_recipient"].values())
    assert ledger["accepted"] == count
