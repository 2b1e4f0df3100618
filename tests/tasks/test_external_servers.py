"""Herald on separate servers: RabbitMQ as the broker, and the host's own PostgreSQL and Redis.

These run only where such servers answer on loopback, and skip cleanly elsewhere.
"""
from __future__ import annotations

import socket
import subprocess
import tempfile

import psycopg2
import pytest
from herald_testing import make_service, recipients, reset_database
from pipeline_checks import assert_each_accepted_once, wait_completed

from scripts.testbed import Stack

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
HOST_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/herald_external_test"
HOST_REDIS = "redis://127.0.0.1:6379/11"


def answers(port: int) -> bool:
    """True when something listens on a loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_small_broadcast(database_url: str, redis_url: str, **settings) -> None:
    """A 300-recipient broadcast through a fresh stack on the given servers, checked at the ledger."""
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                      "CELERY_BROKER_URL": settings.get("CELERY_BROKER_URL", "")})
    service = make_service(app, "external")
    stack = Stack(database_url, redis_url, tempfile.mkdtemp(prefix="herald-external-"), **settings)
    try:
        stack.start_all()
        client = app.test_client()
        response = client.post("/v1/broadcasts", headers=service.headers,
                               json={"channel": "sms", "body": "hello", "recipients": recipients(300)})
        assert response.status_code == 202
        wait_completed(client, service, response.json["id"], timeout=120)
        assert_each_accepted_once(stack.ledger(), 300)
    finally:
        stack.stop()


@pytest.mark.skipif(not answers(5672), reason="no RabbitMQ on 127.0.0.1:5672")
def test_runs_with_rabbitmq_as_the_broker(database_url, redis_url, clean):
    run_small_broadcast(database_url, redis_url, CELERY_BROKER_URL=RABBITMQ)


@pytest.mark.skipif(not (answers(5432) and answers(6379)), reason="no PostgreSQL/Redis on the host's loopback")
def test_runs_against_the_hosts_own_postgresql_and_redis():
    import redis

    try:
        reset_database(HOST_POSTGRES)
    except (psycopg2.Error, subprocess.CalledProcessError) as exc:
        pytest.skip(f"host PostgreSQL refused: {exc}")
    redis.Redis.from_url(HOST_REDIS).flushdb()
    run_small_broadcast(HOST_POSTGRES, HOST_REDIS)
