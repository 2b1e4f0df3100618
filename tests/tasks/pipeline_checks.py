"""Assertions and polling shared by the pipeline test modules."""
from __future__ import annotations

import requests
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


class Api:
    """Herald's real API (a stack's gunicorn) as the programme's operator calls it."""

    def __init__(self, stack, service) -> None:
        self.url, self.headers = stack.api_url, service.headers

    def get(self, path: str) -> dict:
        """GET one resource."""
        response = requests.get(f"{self.url}{path}", headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def broadcast(self, count: int) -> str:
        """POST a broadcast of `count` recipients; return its id."""
        response = requests.post(f"{self.url}/v1/broadcasts", headers=self.headers, timeout=60,
                                 json={"channel": "sms", "body": "Planting advisory: rains from Monday",
                                       "recipients": recipients(count)})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def counts_when(self, broadcast_id: str, predicate, timeout: float, what: str) -> dict:
        """Poll the broadcast until predicate(summary) holds; return its counts."""
        def check():
            summary = self.get(f"/v1/broadcasts/{broadcast_id}")
            return summary["counts"] if predicate(summary) else None
        return wait_until(check, timeout, 0.3, what)


def settled(summary: dict) -> bool:
    """Completed with nothing pending or processing."""
    counts = summary["counts"]
    return summary["status"] == "completed" and counts.get("pending", 0) + counts.get("processing", 0) == 0
