"""Erasure on a national programme's data: the plan and timing of every erasure statement.

`python -m bench.erasure_plan [--rows 10000000]` (under scripts/stack.py) fills a scratch database
with `--rows` messages (100,000 per broadcast, 2 million people, each in five broadcasts), a
delivered report for every fifth message, 2 million contacts, then prints EXPLAIN (ANALYZE,
BUFFERS) of each statement one erasure runs, inside a transaction that is rolled back. The
messages indexes are dropped during the load and built again after it (faster than keeping them).
"""
from __future__ import annotations

import argparse
import time

from sqlalchemy import text

from scripts.testbed import reset_database, scratch_database_url

PEOPLE = 2_000_000
PER_BROADCAST = 100_000
CHUNK = 1_000_000
# The person erased: in five broadcasts, every one of their messages reported (k % 5 == 0).
PERSON = 1_000_000

_MESSAGES = text("""
INSERT INTO messages (broadcast_id, service_id, recipient, status, provider_message_id, cost, currency, segments,
                      attempts, sent_at, finished_at)
SELECT md5('broadcast-' || (i / :per))::uuid, 1, '+2609' || lpad((i % :people)::text, 8, '0'),
       'delivered', 'AT-' || i, 0.02, 'ZMW', 1, 1, now(), now()
  FROM generate_series(:start, :stop) AS i
""")
_REPORTS = text("""
INSERT INTO delivery_events (provider, provider_message_id, provider_status, status, network_code, payload,
                             applied_at, outcome)
SELECT 'africastalking', 'AT-' || i, 'Success', 'delivered', '64502',
       jsonb_build_object('id', 'AT-' || i, 'status', 'Success', 'networkCode', '64502', 'retryCount', '0',
                          'phoneNumber', '+2609' || lpad((i % :people)::text, 8, '0')), now(), 'applied'
  FROM generate_series(:start, :stop) AS i WHERE i % 5 = 0
""")
_CONTACTS = text("""
INSERT INTO contacts (service_id, external_id, phone, phone_carrier, language)
SELECT 1, 'c-' || k, '+2609' || lpad(k::text, 8, '0'), 'MTN', 'en' FROM generate_series(0, :people - 1) AS k
""")
_SECONDARY = text("""
SELECT i.indexname, i.indexdef FROM pg_indexes i
 WHERE i.tablename = :table AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
""")


def fill(session, rows: int) -> None:
    """Load the service, its contacts, `rows` messages and their reports; rebuild indexes; analyse."""
    session.execute(text("INSERT INTO services (id, name) VALUES (1, 'national-programme') ON CONFLICT DO NOTHING"))
    indexes = {table: session.execute(_SECONDARY, {"table": table}).all() for table in ("messages", "delivery_events")}
    for table_indexes in indexes.values():
        for name, _ in table_indexes:
            session.execute(text(f'DROP INDEX "{name}"'))
    session.commit()
    started = time.perf_counter()
    session.execute(_CONTACTS, {"people": PEOPLE})
    for start in range(0, rows, CHUNK):
        params = {"start": start, "stop": min(start + CHUNK, rows) - 1, "per": PER_BROADCAST, "people": PEOPLE}
        session.execute(_MESSAGES, params)
        session.execute(_REPORTS, params)
        session.commit()
        print(f"  {min(start + CHUNK, rows):,} messages loaded ({time.perf_counter() - started:.0f}s)", flush=True)
    session.execute(text("SET maintenance_work_mem = '512MB'"))
    for table_indexes in indexes.values():
        for _name, definition in table_indexes:
            session.execute(text(definition))
    session.commit()
    print(f"  indexes built ({time.perf_counter() - started:.0f}s)", flush=True)
    with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("messages", "delivery_events", "contacts"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def explain(session, label: str, statement, params: dict) -> list:
    """Print EXPLAIN (ANALYZE, BUFFERS) of one statement; return its rows (a RETURNING statement runs once)."""
    plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement.text), params).scalars().all()
    print(f"\n-- {label}\n" + "\n".join(plan), flush=True)
    return plan


def plans(session) -> None:
    """Explain each erasure statement, in order, on the person's data; roll it all back."""
    from app.services.audience import optouts
    from app.services.control import contacts_erasure, dead_letters
    from app.services.reports import delivery_reports
    from app.services.state import message_state

    address = "+2609" + f"{PERSON:08d}"
    needles = [address.lstrip("+")]
    sid, xid = 1, f"c-{PERSON}"
    explain(session, "lock the contact", contacts_erasure._LOCK, {"sid": sid, "xid": xid})
    explain(session, "tombstone the messages", message_state._TOMBSTONE,
            {"sid": sid, "addresses": [address], "needles": needles})
    pids = [f"AT-{PERSON + j * PEOPLE}" for j in range(5)]
    explain(session, "find their reports", delivery_reports._PAYLOADS_BY_MESSAGE, {"pids": pids})
    ids = list(session.execute(text("SELECT id FROM messages WHERE provider_message_id = ANY(:p)"), {"p": pids}).scalars())
    explain(session, "close their dead letters", dead_letters._CLOSE_ERASED,
            {"ids": ids, "needles": needles, "actor": "bench"})
    # Once per channel: the suppression, its events and inbound keywords keep a pseudonym, not the number.
    listed = {"sid": sid, "channel": "sms", "addresses": [address], "pseudonym": optouts.pseudonym("sms", address)}
    explain(session, "pseudonymise their suppression (per channel)", optouts._PSEUDONYMISE_LIST, listed)
    explain(session, "pseudonymise their opt-out events (per channel)", optouts._PSEUDONYMISE_EVENTS, listed)
    explain(session, "pseudonymise their inbound keywords (per channel)", optouts._PSEUDONYMISE_KEYWORDS, listed)
    explain(session, "delete the contact", contacts_erasure._DELETE, {"sid": sid, "xid": xid})
    session.rollback()
    # The same lookups as they were before 0011_erasure_indexes, for comparison (dropped, rolled back).
    session.execute(text("DROP INDEX ix_messages_service_recipient; DROP INDEX ix_delivery_events_provider_message_id"))
    explain(session, "tombstone the messages, without ix_messages_service_recipient", message_state._TOMBSTONE,
            {"sid": sid, "addresses": [address], "needles": needles})
    explain(session, "find their reports, without ix_delivery_events_provider_message_id",
            delivery_reports._PAYLOADS_BY_MESSAGE, {"pids": pids})
    session.rollback()
    # Another person than the one explained, so that a rerun (--reuse) still finds PERSON.
    other = session.execute(text("SELECT external_id FROM contacts WHERE service_id = :sid AND external_id <> :xid"
                                 " ORDER BY id DESC LIMIT 1"), {"sid": sid, "xid": xid}).scalar()
    started = time.perf_counter()
    receipt = contacts_erasure.erase(sid, other, "bench")
    print(f"\nerase() end to end: {(time.perf_counter() - started) * 1000:.1f} ms; receipt {receipt}")


def main() -> None:
    """Fill a scratch database (unless --reuse) and print the erasure plans."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the scratch database of an earlier run")
    args = parser.parse_args()
    url = scratch_database_url("herald_erasure_bench")
    if not args.reuse:
        reset_database(url)
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if not args.reuse:
            print(f"filling {args.rows:,} messages into herald_erasure_bench", flush=True)
            fill(db.session, args.rows)
        counts = db.session.execute(text("SELECT (SELECT count(*) FROM messages), "
                                         "(SELECT count(*) FROM delivery_events)")).one()
        db.session.rollback()
        print(f"messages {counts[0]:,}, delivery_events {counts[1]:,}")
        plans(db.session)


if __name__ == "__main__":
    main()
