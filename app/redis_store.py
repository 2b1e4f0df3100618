"""One Redis client per process, for flags, buckets and locks (not the broker)."""
from __future__ import annotations

import logging
import os

import redis
from flask import Flask

log = logging.getLogger(__name__)
_state: dict = {"url": None, "pid": None, "client": None}
# What a Redis must be set to for every journalled call start to be on disk before the call
# (docs/guarantees.md): each write is fsynced before its reply, group-committed across clients.
DURABLE_SETTINGS = {"appendonly": "yes", "appendfsync": "always"}


def init_app(app: Flask) -> None:
    """Remember where Redis is; connect lazily, once per process."""
    _state["url"] = app.config["REDIS_URL"]


def configure(url: str) -> None:
    """Point the store at a Redis URL outside a Flask app (scripts, tests)."""
    _state.update(url=url, pid=None, client=None)


def get_redis() -> redis.Redis:
    """This process's client; rebuilt after a fork so sockets are never shared."""
    if _state["client"] is None or _state["pid"] != os.getpid():
        _state["client"] = redis.Redis.from_url(
            _state["url"], decode_responses=True, socket_timeout=5, socket_connect_timeout=3,
            health_check_interval=30,
        )
        _state["pid"] = os.getpid()
    return _state["client"]


def durability_problem(client: redis.Redis) -> str | None:
    """Why this Redis could lose a journalled call start in a power cut; None when it cannot."""
    try:
        found = {name: client.config_get(name).get(name) for name in DURABLE_SETTINGS}
    except redis.ResponseError as exc:
        return f"its persistence settings cannot be read ({exc}); make sure they are {_wanted()}"
    wrong = [f"{name} is {found[name]!r}" for name, value in DURABLE_SETTINGS.items() if found[name] != value]
    return f"{', '.join(wrong)}; it needs {_wanted()}" if wrong else None


def _wanted() -> str:
    """The durable settings as redis.conf lines."""
    return " and ".join(f"'{name} {value}'" for name, value in DURABLE_SETTINGS.items())


def warn_if_not_durable() -> None:
    """Log a clear warning at startup when Redis would not keep the call journal through a power cut."""
    try:
        problem = durability_problem(get_redis())
    except redis.RedisError as exc:
        problem = f"it could not be asked ({type(exc).__name__}: {exc})"
    if problem:
        log.warning("Redis at %s may lose the call journal in a power cut: %s. Until then a crash of "
                    "Redis and a worker together can resend calls that had started.", _state["url"], problem)
