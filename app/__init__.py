"""Herald's Flask application factory."""
from __future__ import annotations

import os

from flask import Flask

from app.config import Config
from app.config_checks import check_config

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config, database, Redis, Celery, API, CLI."""
    app = Flask(__name__)
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)
    check_config(app.config)

    from app import cli, errors, queueing, redis_store
    from app.api import register_blueprints
    from app.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    redis_store.init_app(app)
    queueing.init_app(app)
    errors.init_app(app)
    register_blueprints(app)
    cli.init_app(app)
    return app
