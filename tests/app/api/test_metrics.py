"""GET /metrics against the real database and Redis: every gauge counts what is really there."""
from __future__ import annotations

import pytest
import redis
from herald_testing import free_port, recipients
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

import celeryconfig
from app.api import metrics as metrics_module
from app.extensions import db
from app.models import DeadLetter, Message
from app.redis_store import get_redis


def scrape(client) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value} from one scrape, parsed as Prometheus would."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def broadcast(client, service, count: int) -> str:
    """Create a broadcast of `count` recipients and return its id."""
    response = client.post("/v1/broadcasts", headers=service.headers,
                           json={"channel": "sms", "body": "Rain expected", "recipients": recipients(count)})
    assert response.status_code == 202
    return response.json["id"]


def dead_letter(app, service, message_id: int, resolved: bool) -> None:
    """Store one dead letter for a message, open or already resolved."""
    with app.app_context():
        db.session.add(DeadLetter(message_id=message_id, service_id=service.service_id, reason="max_attempts",
                                  resolved_at=db.func.now() if resolved else None))
        db.session.commit()


def test_empty_stores_give_zero_series_for_every_label(client):
    samples = scrape(client)
    for status in ("scheduled", "running", "paused", "completed", "cancelled"):
        assert samples[("herald_broadcasts", (("status", status),))] == 0
    for status in ("pending", "processing"):
        for lane in ("broadcast", "transactional"):
            assert samples[("herald_messages_open", (("lane", lane), ("status", status)))] == 0
    for queue in celeryconfig.QUEUE_NAMES:
        assert samples[("herald_celery_queue_length", (("queue", queue),))] == 0
    assert samples[("herald_dead_letters_open", ())] == 0
    assert samples[("herald_delivery_events_unapplied", ())] == 0
    assert samples[("herald_dead_letters_total", ())] == 0
    assert samples[("herald_metrics_source_up", (("source", "postgresql"),))] == 1
    assert samples[("herald_metrics_source_up", (("source", "redis"),))] == 1


def test_gauges_count_broadcasts_open_messages_backlogs_and_queues(client, service, app):
    running = broadcast(client, service, 4)
    paused = broadcast(client, service, 2)
    cancelled = broadcast(client, service, 3)
    assert client.post(f"/v1/broadcasts/{paused}/pause", headers=service.headers).status_code == 200
    assert client.post(f"/v1/broadcasts/{cancelled}/cancel", headers=service.headers).status_code == 200
    sent = client.post("/v1/messages", headers=service.headers, json={"to": "+260971000009", "body": "Code 42"})
    assert sent.status_code == 202
    with app.app_context():
        first = db.session.scalar(db.select(Message.id).where(Message.broadcast_id == running).order_by(Message.id))
        db.session.execute(text("UPDATE messages SET status = 'processing' WHERE id = :id"), {"id": first})
        db.session.commit()
    dead_letter(app, service, first, resolved=False)
    dead_letter(app, service, sent.json["id"], resolved=True)
    for message_id in ("ATXid_1", "ATXid_2", "ATXid_2"):
        form = {"id": message_id, "status": "Success"}
        assert client.post("/webhooks/africastalking/test-secret", data=form).status_code == 200
    get_redis().delete("send_bulk")
    get_redis().rpush("send_bulk", "a", "b", "c")
    get_redis().incrby("herald:metrics:dead_letters_total", 7)

    samples = scrape(client)
    assert samples[("herald_broadcasts", (("status", "running"),))] == 1
    assert samples[("herald_broadcasts", (("status", "paused"),))] == 1
    assert samples[("herald_broadcasts", (("status", "cancelled"),))] == 1
    # Running: 3 pending + 1 processing; paused: 2 pending; cancelled rows are final.
    assert samples[("herald_messages_open", (("lane", "broadcast"), ("status", "pending")))] == 5
    assert samples[("herald_messages_open", (("lane", "broadcast"), ("status", "processing")))] == 1
    assert samples[("herald_messages_open", (("lane", "transactional"), ("status", "pending")))] == 1
    assert samples[("herald_dead_letters_open", ())] == 1
    assert samples[("herald_delivery_events_unapplied", ())] == 2
    assert samples[("herald_celery_queue_length", (("queue", "send_bulk"),))] == 3
    assert samples[("herald_dead_letters_total", ())] == 7


def test_queue_depths_read_the_broker_lists(client):
    pipe = get_redis().pipeline()
    for depth, queue in enumerate(celeryconfig.QUEUE_NAMES, 1):
        pipe.delete(queue)
        pipe.rpush(queue, *["task"] * depth)
    pipe.execute()
    samples = scrape(client)
    for depth, queue in enumerate(celeryconfig.QUEUE_NAMES, 1):
        assert samples[("herald_celery_queue_length", (("queue", queue),))] == depth


def test_redis_down_still_reports_the_database(client, monkeypatch):
    dead_redis = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(metrics_module, "get_redis", lambda: dead_redis)
    samples = scrape(client)
    assert samples[("herald_metrics_source_up", (("source", "redis"),))] == 0
    assert samples[("herald_metrics_source_up", (("source", "postgresql"),))] == 1
    assert ("herald_broadcasts", (("status", "running"),)) in samples
    assert not any(name.startswith("herald_celery") for name, _ in samples)


def test_open_message_count_reads_indexes_not_the_table(app, clean):
    with app.app_context():
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in db.session.execute(text("EXPLAIN " + metrics_module._OPEN_MESSAGES.text)))
        db.session.rollback()
    # Partial indexes serve both counts; which ones the planner takes depends on the statistics of the
    # moment (several indexes now cover pending and processing rows). Never the whole table.
    assert "Seq Scan" not in plan and "Index" in plan, plan


def test_metrics_from_loopback_need_no_key_and_expose_no_message_text(client, service):
    broadcast(client, service, 2)
    body = client.get("/metrics").get_data(as_text=True)
    assert "Rain expected" not in body and "+260" not in body


REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBl"},
                                     {"Authorization": "Bearer "}])
def test_a_remote_scrape_without_the_token_is_401(client, app, monkeypatch, headers):
    monkeypatch.setitem(app.config, "HERALD_METRICS_TOKEN", "scrape-token")
    response = client.get("/metrics", headers=headers, environ_base=REMOTE)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_remote_scrape_with_the_token_is_answered(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_METRICS_TOKEN", "scrape-token")
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-token"}, environ_base=REMOTE)
    assert response.status_code == 200 and "herald_broadcasts" in response.get_data(as_text=True)


def test_without_a_configured_token_only_loopback_is_answered(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_METRICS_TOKEN", "")
    assert client.get("/metrics", headers={"Authorization": "Bearer "}, environ_base=REMOTE).status_code == 401
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_loopback_through_a_reverse_proxy_counts_as_remote(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_METRICS_TOKEN", "scrape-token")
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 401
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9", "Authorization": "Bearer scrape-token"})
    assert proxied.status_code == 200
