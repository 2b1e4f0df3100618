"""A wrong API key, with real workers: the broadcast pauses gateway_rejected and waits for an operator."""
from __future__ import annotations

import time

from herald_testing import wait_until
from pipeline_checks import audit, start_broadcast, summary, wait_status
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message

STACK_SETTINGS = {"AT_HONOURS_IDEMPOTENCY_KEY": "0", "AT_API_KEY": "not-the-sandbox-key"}
RECIPIENTS = 600
# Probes run every 2 s; this many seconds show that none of them resumes the broadcast.
QUIET_S = 7


def spent_attempts(app, broadcast_id: str) -> int:
    """Attempts spent over the broadcast's messages."""
    with app.app_context():
        return db.session.scalar(select(func.sum(Message.attempts)).where(Message.broadcast_id == broadcast_id))


def moves(client, service, broadcast_id: str) -> list[tuple]:
    """(actor kind, action, reason) of the broadcast's pauses and resumes, in order."""
    return [(actor, action, reason) for actor, action, _to, reason in audit(client, service, broadcast_id)
            if action in ("pause", "resume")]


def test_a_wrong_key_pauses_gateway_rejected_spends_nothing_and_waits_for_an_operator(gateway, client, service, app):
    gateway.sandbox("POST", "/_sandbox/config", json={"honour_idempotency": False})
    broadcast_id = start_broadcast(client, service, RECIPIENTS)
    paused = wait_status(client, service, broadcast_id, "paused", 30)
    assert paused["paused_reason"] == "gateway_rejected"

    time.sleep(QUIET_S)
    still = summary(client, service, broadcast_id)
    assert (still["status"], still["paused_reason"]) == ("paused", "gateway_rejected")
    assert still["counts"]["pending"] == RECIPIENTS
    assert client.get("/v1/dead-letters", headers=service.headers).json["dead_letters"] == []
    assert spent_attempts(app, broadcast_id) == 0
    ledger = gateway.ledger()
    print(f"\nwrong key: {ledger['requests']} requests refused, {ledger['accepted']} accepted, 0 attempts spent")
    assert ledger["accepted"] == 0 and ledger["requests"] > 0

    # The operator's resume closes the breaker half-open; the key is still wrong, so it opens again.
    assert client.post(f"/v1/broadcasts/{broadcast_id}/resume", headers=service.headers).status_code == 200
    wait_until(lambda: moves(client, service, broadcast_id)[-1][1] == "pause", 30, 0.2, "the breaker to open again")
    assert moves(client, service, broadcast_id) == [
        ("system", "pause", "gateway_rejected"), ("api_key", "resume", "operator resume"),
        ("system", "pause", "gateway_rejected")]
    assert summary(client, service, broadcast_id)["paused_reason"] == "gateway_rejected"
    assert spent_attempts(app, broadcast_id) == 0
    assert gateway.ledger()["accepted"] == 0
