"""Daily quotas with four worker processes racing: exact at the gateway, auto-pause, auto-resume."""
from __future__ import annotations

import time

from herald_testing import wait_until
from pipeline_checks import audit, start_broadcast, summary, wait_status
from sqlalchemy import text

from app.extensions import db

WINDOW = 20
# A short window stands in for a day, so a window reset can be watched.
STACK_SETTINGS = {"HERALD_QUOTA_WINDOW_SECONDS": WINDOW, "HERALD_BATCH_SIZE": 250}
STACK_WORKERS = 2  # two workers of two processes each: four processes race for the quota


def test_quota_is_exact_pauses_and_resumes_after_the_window_resets(gateway, client, service, app, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_QUOTA_WINDOW_SECONDS", WINDOW)
    with app.app_context():
        db.session.execute(text("UPDATE services SET daily_quota = 3000 WHERE id = :id"), {"id": service.service_id})
        db.session.commit()
    # Start early in a window so the first 3,000 all fall inside it.
    wait_until(lambda: time.time() % WINDOW < 2, WINDOW + 2, 0.1, "the start of a quota window")
    broadcast_id = start_broadcast(client, service, 20000)
    first = wait_status(client, service, broadcast_id, "paused", timeout=WINDOW)
    assert first["paused_reason"] == "quota"
    time.sleep(1.5)
    assert gateway.ledger()["accepted"] == 3000
    assert first["counts"]["processing"] == 0
    quotas = client.get("/v1/quotas", headers=service.headers).json["quotas"]
    assert quotas[0]["scope"] == f"service:{service.service_id}" and quotas[0]["remaining"] == 0
    wait_until(lambda: gateway.ledger()["accepted"] > 3000, WINDOW + 10, 0.3, "the next window's sends")
    second = wait_status(client, service, broadcast_id, "paused", timeout=WINDOW)
    time.sleep(1.5)
    assert gateway.ledger()["accepted"] == 6000
    assert gateway.ledger()["duplicate_recipients"] == []
    assert second["paused_reason"] == "quota"
    trail = [(actor, action, to, reason) for actor, action, to, reason in audit(client, service, broadcast_id)]
    assert trail[:4] == [("api_key", "create", "running", None), ("system", "pause", "paused", "quota"),
                         ("system", "resume", "running", "quota window reset"), ("system", "pause", "paused", "quota")]
