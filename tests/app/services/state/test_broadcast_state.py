"""Broadcast transitions against the real PostgreSQL and Redis: versions, holds, system resumes."""
from __future__ import annotations

import redis
from lifecycle_testing import post_broadcast

from app.extensions import db
from app.models import Broadcast
from app.services.control import dispatch
from app.services.state import broadcast_state, guard


def _flag(redis_url: str, broadcast_id: str) -> str:
    """The raw Redis status flag."""
    return redis.Redis.from_url(redis_url, decode_responses=True).get(guard.flag_key(broadcast_id))


def test_every_transition_bumps_the_version_the_flag_carries(app, client, service, redis_url):
    broadcast_id = post_broadcast(client, service)
    assert _flag(redis_url, broadcast_id) == "running:1"
    for verb in ("pause", "resume", "pause"):
        assert client.post(f"/v1/broadcasts/{broadcast_id}/{verb}", headers=service.headers).status_code == 200
    with app.app_context():
        stored = db.session.get(Broadcast, broadcast_id)
        assert (stored.status, stored.status_version) == ("paused", 4)
    assert _flag(redis_url, broadcast_id) == "paused:4"


def test_an_operator_holds_a_quota_pause_so_the_quota_reset_does_not_resume_it(app, client, service):
    broadcast_id = post_broadcast(client, service)
    with app.app_context():
        assert broadcast_state.apply(broadcast_id, "pause", actor="system", paused_reason="quota", strict=False)
    held = client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers, json={"reason": "hold"})
    assert held.status_code == 200 and held.json["paused_reason"] == "operator"
    with app.app_context():
        assert dispatch.resume_quota_paused() == []
        assert db.session.get(Broadcast, broadcast_id).status == "paused"
    again = client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers)
    assert again.status_code == 409
    actions = [row["action"] for row in client.get(f"/v1/broadcasts/{broadcast_id}/audit",
                                                   headers=service.headers).json["audit"]]
    assert actions[-2:] == ["pause", "hold"]


def test_a_system_resume_moves_only_a_broadcast_paused_for_its_reason(app, client, service):
    broadcast_id = post_broadcast(client, service)
    assert client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers).status_code == 200
    with app.app_context():
        assert not broadcast_state.apply(broadcast_id, "resume", actor="system", strict=False, from_reason="quota")
        assert db.session.get(Broadcast, broadcast_id).status == "paused"
