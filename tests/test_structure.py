"""Structural checks: every task has a route, every queue a consumer, the migrations match the models."""
from __future__ import annotations

import fnmatch
import subprocess
import sys

import celeryconfig
from herald_testing import ROOT

from scripts.processes import PROCESSES


def consumed_queues() -> set[str]:
    """Queues some worker in the process table listens to."""
    queues = set()
    for spec in PROCESSES:
        if "worker" in spec.argv and "-Q" in spec.argv:
            queues.update(spec.argv[spec.argv.index("-Q") + 1].split(","))
    return queues


def test_every_queue_has_a_consumer():
    assert set(celeryconfig.QUEUE_NAMES) <= consumed_queues()


def test_every_task_has_a_route_to_a_declared_queue(app):
    import tasks.celery_app  # noqa: F401  (registers every task)

    celery = app.extensions["celery"]
    ours = [name for name in celery.tasks if name.startswith("tasks.")]
    assert len(ours) >= 9
    for name in ours:
        queues = [route["queue"] for pattern, route in celeryconfig.task_routes.items()
                  if fnmatch.fnmatch(name, pattern)]
        assert queues, f"task {name} has no route"
        assert queues[0] in celeryconfig.QUEUE_NAMES


def test_beat_tasks_exist_and_expire(app):
    import tasks.celery_app  # noqa: F401

    celery = app.extensions["celery"]
    for entry in celeryconfig.beat_schedule.values():
        assert entry["task"] in celery.tasks
        assert entry["options"]["expires"] > entry["schedule"]


def test_every_table_is_emptied_between_tests(app):
    """A table left out of the list would carry one test's rows into the next (ids restart, rows stay)."""
    from herald_testing import TABLES

    from app.extensions import db

    assert set(TABLES) == set(db.metadata.tables)


def test_migration_head_matches_the_models(database_url):
    """Autogenerate against the migrated test database must find nothing to add."""
    script = (
        "from alembic.autogenerate import compare_metadata\n"
        "from alembic.migration import MigrationContext\n"
        "from app import create_app\n"
        "from app.extensions import db\n"
        "import app.models\n"
        "a = create_app({'SQLALCHEMY_DATABASE_URI': %r})\n"
        "with a.app_context():\n"
        "    with db.engine.connect() as conn:\n"
        "        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)\n"
        "print(repr(diff))\n" % database_url
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
