"""Celery wired into the Flask app, and the one way web code wakes workers up.

Web code enqueues by task name, so the API never imports the task modules.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks run inside this Flask app's context."""

    class FlaskTask(Task):
        """A task that runs with the Flask app context pushed."""

        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object("celeryconfig")
    celery.conf.broker_url = app.config["CELERY_BROKER_URL"] or app.config["REDIS_URL"]
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def enqueue(app: Flask, task_name: str, *args, **options) -> None:
    """Send one task by name; the queue comes from celeryconfig's routes."""
    app.extensions["celery"].send_task(task_name, args=args, **options)
