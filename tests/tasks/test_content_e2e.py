"""Content end to end on the real stack: a STOP mid-broadcast, START again, and the dry run's cost."""
from __future__ import annotations

import requests
from herald_testing import recipients, wait_until
from pipeline_checks import summary, wait_completed
from scripts.testbed import WEBHOOK_SECRET

# One batch holds the whole broadcast, sent at a paced rate: the STOP arrives while its recipient's
# row is already claimed, so only the check before each gateway call can stop that send.
STACK_SETTINGS = {"HERALD_BATCH_SIZE": 200, "HERALD_INBOUND_SERVICES": "*=1"}
COUNT = 120


def inbound(gateway, sender: str, text: str, inbound_id: str, date: str) -> str:
    """Post an inbound SMS to the real API as Africa's Talking does; the keyword's action."""
    url = f"{gateway.api_url}/webhooks/africastalking/{WEBHOOK_SECRET}/inbound"
    form = {"from": sender, "to": "12345", "text": text, "date": date, "id": inbound_id, "linkId": "l"}
    response = requests.post(url, data=form, timeout=10)
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied", response.json()
    return response.json()["action"]


def test_stop_mid_broadcast_stops_later_sends_and_start_resubscribes(gateway, client, service):
    assert service.service_id == 1  # the stack routes inbound SMS to service 1
    audience = recipients(COUNT)
    late = audience[-1]["to"]
    response = client.post("/v1/broadcasts", headers=service.headers, json={
        "channel": "sms", "body": "Planting advisory: rains from Monday", "recipients": audience,
        "rate_limit_per_second": 10})
    broadcast_id = response.json["id"]
    wait_until(lambda: gateway.ledger()["accepted"] >= 10, 120, 0.1, "the first sends")
    assert inbound(gateway, late, "STOP", "in-7", "2026-12-02 01:00:00") == "opt_out"
    done = wait_completed(client, service, broadcast_id, timeout=120)
    ledger = gateway.ledger()
    assert late not in ledger["by_recipient"]
    assert len(ledger["by_recipient"]) == COUNT - 1
    assert done["counts"]["opted_out"] == 1 and done["counts"]["sent"] + done["counts"]["delivered"] == COUNT - 1
    history = client.get("/v1/opt-outs", query_string={"address": late}, headers=service.headers).json["history"]
    assert [(h["action"], h["source"]) for h in history] == [("opt_out", "africastalking:in-7")]

    assert inbound(gateway, late, "start", "in-8", "2026-12-02 01:00:30") == "opt_in"
    again = client.post("/v1/broadcasts", headers=service.headers,
                        json={"channel": "sms", "body": "Rains have started", "recipients": [{"to": late}]})
    assert again.json["accepted"] == 1
    wait_completed(client, service, again.json["id"], timeout=60)
    assert gateway.ledger()["by_recipient"].get(late) == 1


def test_the_dry_run_cost_equals_the_completed_broadcast_cost(gateway, client, service):
    # Mixed carriers, one UCS-2 recipient (2 parts), one long GSM-7 one with extension characters (310 septets: 3 parts).
    audience = [{"to": r["to"], "personalisation": {"note": note}}
                for r, note in zip(recipients(9), ["ok", "ŋombe " * 12, "{x}" * 60] * 3)]
    payload = {"channel": "sms", "body": "Advisory: ((note))", "recipients": audience}
    estimate = client.post("/v1/broadcasts", headers=service.headers, json={**payload, "dry_run": True}).json
    assert estimate["encoding"] == "mixed" and estimate["segments_histogram"] == {"1": 3, "2": 3, "3": 3}
    broadcast_id = client.post("/v1/broadcasts", headers=service.headers, json=payload).json["id"]
    done = wait_completed(client, service, broadcast_id, timeout=120)
    assert float(done["cost"]) == float(estimate["cost"]["total"])
    for carrier, row in estimate["cost"]["by_carrier"].items():
        assert float(done["carriers"][carrier]["cost"]) == float(row["cost"])
