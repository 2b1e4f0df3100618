"""What every bench phase shares: where the figures were taken, and a key to post with."""
from __future__ import annotations

import os
import platform


def machine() -> str:
    """A one-line description of where the figures were taken."""
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {model}, load {os.getloadavg()[0]:.1f}"


def make_key(database_url: str, redis_url: str) -> str:
    """A service and API key in the bench database."""
    from app import create_app
    from app.services.control import auth

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url})
    with app.app_context():
        return auth.create_api_key(auth.create_service("bench").id)
