"""Operator control with real workers: pause within a second, resume, cancel, schedules, fast lane, fairness."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from herald_testing import make_service, recipients, wait_until
from pipeline_checks import (assert_each_accepted_once, audit, gone_out, start_broadcast, summary,
                             wait_completed, wait_status)

from app.extensions import db
from app.models import Message
from sqlalchemy import func, select


def sandbox_events(gateway, since: float) -> list[dict]:
    """Every gateway call that arrived after `since` (unix time)."""
    return gateway.sandbox("GET", "/_sandbox/events", params={"since": since, "limit": 100000})["events"]


def test_pause_stops_gateway_calls_within_a_second_and_resume_finishes(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 50})
    count = 4000
    broadcast_id = start_broadcast(client, service, count)
    wait_until(lambda: gone_out(summary(client, service, broadcast_id)) > 300, 60, 0.1, "sending")
    response = client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers,
                           json={"reason": "wrong date in the text"})
    paused_at = time.time()
    assert response.status_code == 200 and response.json["status"] == "paused"
    time.sleep(3)
    late = [e for e in sandbox_events(gateway, paused_at + 1.0) if e["outcome"] != "rate_limited"]
    assert late == [], f"{len(late)} gateway calls started more than 1 s after the pause returned"
    paused = summary(client, service, broadcast_id)
    assert paused["counts"]["processing"] == 0
    assert paused["counts"]["pending"] > 0 and paused["paused_reason"] == "operator"
    assert client.post(f"/v1/broadcasts/{broadcast_id}/resume", headers=service.headers).status_code == 200
    wait_completed(client, service, broadcast_id, timeout=180)
    assert_each_accepted_once(gateway.ledger(), count)
    assert audit(client, service, broadcast_id) == [
        ("api_key", "create", "running", None),
        ("api_key", "pause", "paused", "wrong date in the text"),
        ("api_key", "resume", "running", "operator resume"),
        ("system", "complete", "completed", "all messages settled"),
    ]


def test_cancel_leaves_no_pending_rows(gateway, client, service, app):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 30})
    broadcast_id = start_broadcast(client, service, 3000)
    wait_until(lambda: gone_out(summary(client, service, broadcast_id)) > 200, 60, 0.1, "sending")
    assert client.post(f"/v1/broadcasts/{broadcast_id}/cancel", headers=service.headers).status_code == 200
    settled = wait_until(lambda: (lambda s: s if s["counts"]["processing"] == 0 else None)(
        summary(client, service, broadcast_id)), 30, 0.3, "claims to be released")
    assert settled["status"] == "cancelled"
    assert settled["counts"]["pending"] == 0
    assert settled["counts"]["cancelled"] > 0
    assert settled["counts"]["cancelled"] + settled["counts"]["sent"] + settled["counts"]["delivered"] == 3000
    again = client.post(f"/v1/broadcasts/{broadcast_id}/resume", headers=service.headers)
    assert again.status_code == 409 and again.json["error"]["details"]["status"] == "cancelled"
    assert audit(client, service, broadcast_id)[-1][:3] == ("api_key", "cancel", "cancelled")


def test_lifecycle_refusals_leave_state_unchanged(gateway, client, service):
    broadcast_id = start_broadcast(client, service, 5)
    wait_completed(client, service, broadcast_id, timeout=60)
    response = client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers)
    assert response.status_code == 409
    assert "completed" in response.json["error"]["message"]
    assert summary(client, service, broadcast_id)["status"] == "completed"


def test_scheduled_broadcast_starts_within_five_seconds_and_cancels_before(gateway, client, service):
    when = datetime.now(timezone.utc) + timedelta(seconds=4)
    broadcast_id = start_broadcast(client, service, 20, scheduled_for=when.isoformat())
    assert summary(client, service, broadcast_id)["status"] == "scheduled"
    started = wait_until(lambda: (lambda s: s if s["started_at"] else None)(summary(client, service, broadcast_id)),
                         15, 0.2, "the scheduled broadcast to start")
    lag = datetime.fromisoformat(started["started_at"]) - when
    assert timedelta(0) <= lag < timedelta(seconds=5)
    wait_completed(client, service, broadcast_id, timeout=60)
    later = start_broadcast(client, service, 20, start=100,
                            scheduled_for=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat())
    assert client.post(f"/v1/broadcasts/{later}/cancel", headers=service.headers).status_code == 200
    cancelled = summary(client, service, later)
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["cancelled"] == 20
    assert [a[1] for a in audit(client, service, broadcast_id)] == ["create", "start", "complete"]


def test_two_services_progress_side_by_side(gateway, client, service, app):
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 5})
    other = make_service(app, "programme-b")
    first = start_broadcast(client, service, 6000)
    second = start_broadcast(client, other, 6000, start=10000)

    def both_moving():
        a, b = summary(client, service, first), summary(client, other, second)
        return gone_out(a) > 500 and gone_out(b) > 500 and "completed" not in (a["status"], b["status"])
    wait_until(both_moving, 120, 0.2, "both broadcasts to send while the other is still running")
    wait_completed(client, service, first, 180)
    wait_completed(client, other, second, 180)


def test_transactional_message_reaches_sent(gateway, client, service, app):
    response = client.post("/v1/messages", headers={**service.headers, "Idempotency-Key": "otp-1"},
                           json={"to": "+260961234567", "body": "Your code is ((code))",
                                 "personalisation": {"code": "4821"}})
    assert response.status_code == 202 and response.json["queue_position"] >= 0
    message_id = response.json["id"]
    replay = client.post("/v1/messages", headers={**service.headers, "Idempotency-Key": "otp-1"},
                         json={"to": "+260961234567", "body": "Your code is ((code))",
                               "personalisation": {"code": "4821"}})
    assert replay.json["id"] == message_id
    sent = wait_until(lambda: (lambda m: m if m["status"] in ("sent", "delivered") else None)(
        client.get(f"/v1/messages/{message_id}", headers=service.headers).json), 30, 0.1, "the message to be sent")
    assert sent["provider_message_id"]
    assert gateway.ledger()["by_recipient"] == {"+260961234567": 1}
    bad = client.post("/v1/messages", headers=service.headers, json={"to": "12", "body": "x"})
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "to"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1
