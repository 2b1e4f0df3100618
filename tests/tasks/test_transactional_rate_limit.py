"""The fast lane under a very low global rate limit: messages wait for their slot, none is dead-lettered."""
from __future__ import annotations

from herald_testing import wait_until

STACK_SETTINGS = {"HERALD_RATE_LIMITS": "africastalking=0.2"}


def test_three_back_to_back_messages_at_one_per_five_seconds_are_all_sent(gateway, client, service):
    ids = []
    for index in range(3):
        response = client.post("/v1/messages", headers=service.headers,
                               json={"to": f"+26096123450{index}", "body": "Your code is 4821"})
        assert response.status_code == 202, response.json
        ids.append(response.json["id"])

    def all_sent():
        states = [client.get(f"/v1/messages/{mid}", headers=service.headers).json["status"] for mid in ids]
        return states if all(s in ("sent", "delivered") for s in states) else None
    wait_until(all_sent, 60, 0.5, "all three messages to be sent at one per five seconds")
    assert client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"] == []
    ledger = gateway.ledger()
    assert ledger["accepted"] == 3 and ledger["duplicate_recipients"] == []
    # The gateway saw them paced by the limit, not in one burst.
    times = sorted(e["t"] for e in gateway.sandbox("GET", "/_sandbox/events", params={"since": 0})["events"])
    assert times[-1] - times[0] >= 8
