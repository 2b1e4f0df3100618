"""Factories for service-level tests: a broadcast posted through the API, with no worker to send it."""
from __future__ import annotations

from herald_testing import recipients


def post_broadcast(client, service, count: int = 10) -> str:
    """A running broadcast of `count` recipients (nothing consumes its wake-up here)."""
    response = client.post("/v1/broadcasts", headers=service.headers,
                           json={"channel": "sms", "body": "Rains from Monday", "recipients": recipients(count)})
    assert response.status_code == 202, response.json
    return response.json["id"]
