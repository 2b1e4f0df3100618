"""The baseline: a bulk sender written the way a typical developer would write it.

One Celery task per message; each task loads its row, calls the gateway with
requests, and updates its row. It runs with Celery's defaults (early acks,
prefetch 4), which are faster than Herald's at-least-once settings, and keeps one
requests.Session per process (keep-alive), kinder to it than the common
`requests.post`: the baseline is the best version of the naive design.
"""
from __future__ import annotations

import os

import requests
from celery import Celery
from sqlalchemy import create_engine, text

app = Celery("naive", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_ignore_result=True, task_default_queue="naive", worker_send_task_events=False)

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS naive_messages (
  id bigserial PRIMARY KEY, recipient text NOT NULL, body text NOT NULL,
  status text NOT NULL DEFAULT 'pending', provider_message_id text, cost text, sent_at timestamptz)
"""
_state: dict = {}


def _engine():
    """One engine per process, created after the fork."""
    if "engine" not in _state:
        _state["engine"] = create_engine(os.environ["NAIVE_DATABASE_URL"], pool_size=2)
        _state["session"] = requests.Session()
    return _state["engine"], _state["session"]


@app.task(name="naive.send_one")
def send_one(message_id: int) -> None:
    """Load one row, send it, write the result back."""
    engine, session = _engine()
    with engine.begin() as conn:
        row = conn.execute(text("SELECT recipient, body FROM naive_messages WHERE id = :id"),
                           {"id": message_id}).one()
    response = session.post(
        os.environ["AT_BASE_URL"] + "/version1/messaging",
        data={"username": os.environ["AT_USERNAME"], "to": row.recipient, "message": row.body},
        headers={"apiKey": os.environ["AT_API_KEY"], "Accept": "application/json"}, timeout=15,
    )
    recipient = response.json()["SMSMessageData"]["Recipients"][0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE naive_messages SET status = 'sent', provider_message_id = :pid, cost = :cost, "
                          "sent_at = now() WHERE id = :id"),
                     {"pid": recipient["messageId"], "cost": recipient["cost"], "id": message_id})
