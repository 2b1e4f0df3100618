"""Erasure during a running broadcast, on the real stack: afterwards the numbers are nowhere.

Two people are erased while a paced broadcast runs: one already sent (their delivery report
still on its way: the sandbox posts it after the erasure) and one whose row a worker holds but
has not sent. Afterwards every table of the database, every key of Redis (broker queues
included) and the log files of Herald's processes are searched for either number; the held row
has ended `cancelled`, and the sandbox, which does not deduplicate, never took the second.
"""
from __future__ import annotations

import glob
import os

import redis
from herald_testing import recipients, wait_until
from pipeline_checks import wait_completed
from sqlalchemy import text

from app.extensions import db

COUNT = 40
# Reports come late (the first one after the erasure), one batch holds the whole broadcast.
STACK_SETTINGS = {"HERALD_BATCH_SIZE": 200, "SANDBOX_DLR_DELAY_MS": 4000}


def every_table_as_text(app) -> str:
    """Every row of every table in the public schema, as JSON text."""
    with app.app_context():
        tables = db.session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        dumped = [db.session.execute(text(f"SELECT coalesce(string_agg(to_jsonb(t)::text, E'\\n'), '') FROM {name} t")
                                     ).scalar() for name in list(tables)]
        db.session.rollback()
    return "\n".join(dumped)


def every_redis_value(url: str) -> str:
    """Every key and value of the stack's Redis database, whatever its type, as text."""
    client = redis.Redis.from_url(url)
    found = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        else:
            value = kind
        found.append(f"{key!r} {value!r}")
    return "\n".join(found)


def herald_logs(stack) -> str:
    """The log files of Herald's own processes (the sandbox is the gateway: its records are its own)."""
    paths = [p for p in glob.glob(os.path.join(stack.tmp_dir, "*.log")) if not p.endswith("sandbox.log")]
    assert len(paths) >= 3, paths
    return "\n".join(open(path, encoding="utf-8", errors="replace").read() for path in paths)


def test_erasure_mid_broadcast_leaves_the_numbers_nowhere(gateway, client, service, app, redis_url):
    audience = recipients(COUNT)
    sent_early, held = audience[0]["to"], audience[-1]["to"]
    rows = "".join(f"c{i},{r['to']},yes\n" for i, r in enumerate(audience))
    imported = client.post("/v1/contacts/import", headers={**service.headers, "Content-Type": "text/csv"},
                           data="external_id,phone,consent_sms\n" + rows)
    assert imported.status_code < 300, imported.json
    gateway.sandbox("POST", "/_sandbox/config", json={"honour_idempotency": False})
    created = client.post("/v1/broadcasts", headers=service.headers, json={
        "channel": "sms", "body": "Planting advisory: rains from Monday", "recipients": audience,
        "rate_limit_per_second": 6})
    assert created.status_code == 202, created.json
    wait_until(lambda: sent_early in gateway.ledger()["by_recipient"], 60, 0.05, "the first person sent")
    with app.app_context():
        held_status = db.session.execute(text("SELECT status FROM messages WHERE recipient = :r"),
                                         {"r": held}).scalar()
        db.session.rollback()
    assert held_status == "processing"  # claimed with the whole batch, not sent yet
    for external_id in ("c0", f"c{COUNT - 1}"):
        erased = client.delete(f"/v1/contacts/{external_id}", headers=service.headers)
        assert erased.status_code == 200, erased.json
        assert sent_early not in str(erased.json) and held not in str(erased.json)

    done = wait_completed(client, service, created.json["id"], timeout=120)
    ledger = gateway.ledger()
    assert held not in ledger["by_recipient"] and ledger["by_recipient"][sent_early] == 1
    assert done["counts"]["cancelled"] == 1
    with app.app_context():
        tombstones = db.session.execute(text(
            "SELECT status, error_code FROM messages WHERE recipient LIKE 'erased:%' ORDER BY id")).all()
        db.session.rollback()
    assert [tuple(row) for row in tombstones][-1] == ("cancelled", "contact_erased")
    # Every report has come in, the erased person's included (after the erasure: DLR delay 4 s).
    wait_until(lambda: gateway.ledger()["dlr_pending"] == 0, 60, 0.2, "every delivery report posted")
    wait_until(lambda: done_reports(app) >= COUNT - 1, 60, 0.2, "every report stored")

    for number in (sent_early, held):
        digits = number.lstrip("+")
        assert digits not in every_table_as_text(app), number
        assert digits not in every_redis_value(redis_url), number
        assert digits not in herald_logs(gateway), number
    # The people not erased are still there: the search would have found them.
    assert audience[1]["to"].lstrip("+") in every_table_as_text(app)


def done_reports(app) -> int:
    """How many delivery reports are stored."""
    with app.app_context():
        count = db.session.execute(text("SELECT count(*) FROM delivery_events")).scalar()
        db.session.rollback()
    return count
