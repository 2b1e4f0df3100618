"""The process table that `scripts/stack.py up` starts, in start order.

Every process runs from the repo root; a relative argv[0] resolves against it.
`health` is one of:
  - an http(s) URL that must answer GET with a 2xx status,
  - an int TCP port on 127.0.0.1 that must accept connections,
  - None: the process only has to stay up.
Strings in `argv` and `env` may use {webhook_secret}, {flower_auth} (user:password),
{data_dir} (absolute .data path) and any name from the common stack environment,
e.g. {DATABASE_URL}; other braces are left as they are. Secrets go in `env`, never
in `argv`, which is logged and visible to every user in `ps`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Process:
    """One long-running process of the local stack."""

    name: str
    argv: list[str]
    health: str | int | None = None
    env: dict[str, str] = field(default_factory=dict)


# Run once before any process starts; `up` stops if it fails.
MIGRATE = [".venv/bin/flask", "--app", "wsgi", "db", "upgrade"]

CELERY = [".venv/bin/celery", "-A", "tasks.celery_app"]

PROCESSES = [
    Process(
        name="sandbox",
        argv=[".venv/bin/python", "-m", "sandbox", "--port", "8025", "--smpp-port", "2775"],
        health="http://127.0.0.1:8025/_sandbox/config",
        # Delivery reports go to the ingest process, as a gateway's report URL should in production.
        env={"SANDBOX_DLR_URL": "http://127.0.0.1:8001/webhooks/africastalking/{webhook_secret}"},
    ),
    Process(
        name="api",
        argv=[".venv/bin/gunicorn", "wsgi:app", "-k", "gthread", "--workers", "2",
              "--threads", "8", "--bind", "127.0.0.1:8000"],
        health="http://127.0.0.1:8000/healthz",
    ),
    # Gateways' callbacks (one delivery report per request, thousands a second) on one event loop.
    Process(
        name="ingest",
        argv=[".venv/bin/python", "-m", "app.api.ingest_server", "--bind", "127.0.0.1:8001"],
        health="http://127.0.0.1:8001/healthz",
    ),
    Process(
        name="worker",
        argv=[*CELERY, "worker", "-Q", "send_bulk", "-c", "2", "-n", "bulk@%h", "--loglevel", "INFO"],
    ),
    # Producer ticks, delivery reports, dead letters and beat's maintenance, never stuck behind sends.
    Process(
        name="worker-control",
        argv=[*CELERY, "worker", "-Q", "fanout,webhooks,dead_letter,maintenance", "-c", "2", "-n", "control@%h",
              "--loglevel", "INFO"],
    ),
    Process(
        name="worker-priority",
        argv=[*CELERY, "worker", "-Q", "send_priority", "-c", "1", "-n", "priority@%h",
              "--loglevel", "INFO"],
    ),
    Process(
        name="beat",
        argv=[*CELERY, "beat", "--schedule", "{data_dir}/run/celerybeat-schedule", "--loglevel", "INFO"],
    ),
    # Flower can revoke tasks and shut workers down: basic auth even on loopback, with a
    # password generated once into .data/stack.json (`make demo` prints it).
    Process(
        name="flower",
        argv=[*CELERY, "flower", "--address=127.0.0.1", "--port=5555"],
        health=5555,
        env={"FLOWER_BASIC_AUTH": "{flower_auth}"},
    ),
]
