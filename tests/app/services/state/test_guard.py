"""The status flag: written compare-and-set by version, repaired from PostgreSQL by the reconcile."""
from __future__ import annotations

import redis
from lifecycle_testing import post_broadcast

from app.services.state import guard


def test_an_older_version_never_overwrites_a_newer_one(app, redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with app.app_context():
        guard.publish("b1", "paused", 7)
        guard.publish("b1", "running", 6)
        assert client.get(guard.flag_key("b1")) == "paused:7"
        guard.publish("b1", "running", 8)
        assert client.get(guard.flag_key("b1")) == "running:8"


def test_the_reconcile_repairs_a_lost_or_wrong_flag(app, client, service, redis_url):
    broadcast_id = post_broadcast(client, service)
    assert client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers).status_code == 200
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    store.set(guard.flag_key(broadcast_id), "running:1")
    with app.app_context():
        assert guard.reconcile() >= 1
    assert store.get(guard.flag_key(broadcast_id)) == "paused:2"
    store.delete(guard.flag_key(broadcast_id))
    with app.app_context():
        guard.reconcile()
        assert guard.refresh(broadcast_id) == "paused"
    assert store.get(guard.flag_key(broadcast_id)) == "paused:2"


def test_a_publish_that_cannot_reach_redis_is_logged_not_raised(app, caplog):
    from app import redis_store

    with app.app_context():
        saved = dict(redis_store._state)
        redis_store.configure("redis://127.0.0.1:1/0")
        try:
            guard.publish("b2", "paused", 3)
        finally:
            redis_store._state.update(saved)
    assert "not published" in caplog.text
