"""One Redis client per process, for flags, buckets and locks (not the broker)."""
from __future__ import annotations

import os

import redis
from flask import Flask

_state: dict = {"url": None, "pid": None, "client": None}


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
