"""Tests for the embedded PostgreSQL and Redis behind scripts/embedded.py.

They use their own temporary dirs and ports and never touch the servers under
the repo's .data/.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

# First: stack_testing puts scripts/ on sys.path for the imports below.
from stack_testing import free_port, wait_gone

import embedded


@pytest.fixture
def redis_dir(tmp_path, monkeypatch):
    """A data dir and a free port for a private embedded Redis, stopped afterwards."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv(embedded.REDIS_PORT_ENV, str(free_port()))
    yield tmp_path
    embedded.stop_redis(tmp_path)


def test_ensure_redis_starts_reuses_and_stops(redis_dir):
    import redis

    port = int(os.environ[embedded.REDIS_PORT_ENV])
    url = embedded.ensure_redis(redis_dir)
    assert url == f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=2)
    assert client.ping()
    client.set("k", "v")
    pid = embedded.redis_status(redis_dir)["pid"]
    assert pid and embedded.redis_status(redis_dir)["state"] == "running"

    started = time.monotonic()
    assert embedded.ensure_redis(redis_dir) == url
    assert time.monotonic() - started < 1.5
    assert embedded.redis_status(redis_dir)["pid"] == pid
    assert client.get("k") == b"v"
    client.close()

    assert embedded.stop_redis(redis_dir) is True
    assert wait_gone(pid)
    assert embedded.redis_status(redis_dir)["state"] == "stopped"
    assert embedded.stop_redis(redis_dir) is False


def test_ensure_redis_uses_redis_url_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/3")
    assert embedded.ensure_redis(tmp_path) == "redis://elsewhere:6379/3"
    assert not (tmp_path / "redis").exists()


def test_ensure_redis_moves_past_a_busy_port(redis_dir, monkeypatch):
    monkeypatch.delenv(embedded.REDIS_PORT_ENV)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        (redis_dir / "redis").mkdir()
        (redis_dir / "redis" / "port").write_text(f"{busy}\n")
        url = embedded.ensure_redis(redis_dir)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert port != busy and busy < port < busy + embedded.REDIS_PORT_SPAN
    assert embedded.redis_status(redis_dir)["state"] == "running"


def test_ensure_redis_refuses_a_busy_explicit_port(redis_dir, monkeypatch):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        monkeypatch.setenv(embedded.REDIS_PORT_ENV, str(squatter.getsockname()[1]))
        with pytest.raises(embedded.EmbeddedError):
            embedded.ensure_redis(redis_dir)


def test_ensure_postgres_creates_databases_and_is_idempotent(monkeypatch):
    import psycopg2
    import sqlalchemy

    monkeypatch.delenv("DATABASE_URL", raising=False)
    # Own dir under /tmp, readable by the unprivileged account postgres runs as under root.
    data_dir = Path(tempfile.mkdtemp(prefix="herald-pg-"))
    data_dir.chmod(0o755)
    try:
        url = embedded.ensure_postgres(data_dir)
        assert url == f"postgresql+psycopg2://postgres@/herald?host={data_dir / 'pg'}"
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar() == "herald"
        engine.dispose()
        conn = psycopg2.connect(host=str(data_dir / "pg"), user="postgres", dbname="herald_test",
                                connect_timeout=5)
        conn.close()

        pid = embedded.postgres_status(data_dir)["pid"]
        started = time.monotonic()
        assert embedded.ensure_postgres(data_dir) == url
        assert time.monotonic() - started < 2
        assert embedded.postgres_status(data_dir)["pid"] == pid

        assert embedded.stop_postgres(data_dir) is True
        assert embedded.postgres_status(data_dir)["state"] == "stopped"
        assert embedded.stop_postgres(data_dir) is False
    finally:
        embedded.stop_postgres(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
