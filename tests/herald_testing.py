"""Plain helpers for tests: test stores, factories, and subprocess management."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from scripts.testbed import (free_port, reset_database, scratch_database_url, scratch_redis_url, wait_http,
                             wait_until)  # noqa: F401  (re-exported for tests)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ("inbound_messages", "opt_out_events", "opt_outs", "templates", "audit_log", "dead_letters",
          "delivery_events", "message_parts", "messages", "broadcast_audiences", "broadcasts", "segments", "contacts", "api_keys", "quota_windows", "services")
TEST_REDIS_DB = 9


def test_database_url() -> str:
    """TEST_DATABASE_URL, or DATABASE_URL with the database renamed to herald_test."""
    return os.environ.get("TEST_DATABASE_URL") or scratch_database_url("herald_test")


def test_redis_url() -> str:
    """REDIS_URL with the tests' own db number, emptied."""
    return scratch_redis_url(TEST_REDIS_DB)


def truncate_all(app, redis_url: str) -> None:
    """Empty every table and the test Redis db."""
    from app.extensions import db
    from app.services.sending import breaker
    from app.services.state import guard

    from sqlalchemy.exc import OperationalError

    # The previous test's real workers may still be settling rows; PostgreSQL can pick the
    # TRUNCATE as the victim of a deadlock with them, and then a second try goes through.
    with app.app_context():
        for attempt in range(5):
            try:
                db.session.execute(db.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
                db.session.commit()
                break
            except OperationalError:
                db.session.rollback()
                if attempt == 4:
                    raise
                time.sleep(0.2)
    redis.Redis.from_url(redis_url).flushdb()
    guard._local.clear()
    breaker.forget_local()


@dataclass(frozen=True)
class ServiceKey:
    """A service id and its plaintext API key."""

    service_id: int
    key: str

    @property
    def headers(self) -> dict:
        """Authorization header for this service."""
        return {"Authorization": f"Bearer {self.key}"}


def make_service(app, name: str) -> ServiceKey:
    """Create a service with one API key."""
    from app.services.control import auth

    with app.app_context():
        service = auth.create_service(name)
        return ServiceKey(service.id, auth.create_api_key(service.id))


def recipients(count: int, start: int = 0, prefixes=("96", "97", "95", "76", "77")) -> list[dict]:
    """Distinct valid Zambian mobile numbers spread over MTN, Airtel and Zamtel."""
    return [{"to": f"+260{prefixes[i % len(prefixes)]}{1000000 + i:07d}"} for i in range(start, start + count)]


def count_rows(app) -> tuple[int, int]:
    """(broadcasts, messages) in the database."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Broadcast, Message

    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(Broadcast)),
                db.session.scalar(select(func.count()).select_from(Message)))


def post_json(client, service, path: str, payload, **headers):
    """POST a JSON body (a str is sent as is) with the service's key."""
    import json

    data = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(path, data=data, headers={**service.headers, "Content-Type": "application/json", **headers})


def sms(recipient_list: list[dict], body: str = "Rain expected tomorrow") -> dict:
    """A minimal valid SMS broadcast payload."""
    return {"channel": "sms", "body": body, "recipients": recipient_list}


@contextmanager
def serving(server):
    """Run a socketserver in a thread for the block, then shut it down and close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
