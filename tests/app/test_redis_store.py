"""The startup check that Redis keeps the call journal through a power cut, against the real Redis."""
from __future__ import annotations

import logging

import redis

from app import redis_store


def _store_at(monkeypatch, url: str) -> None:
    """Point the process's Redis store at `url` for this test only."""
    monkeypatch.setattr(redis_store, "_state", {"url": url, "pid": None, "client": None})


def test_the_embedded_redis_is_durable_and_a_weaker_setting_is_named(redis_url, caplog, monkeypatch):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert redis_store.durability_problem(client) is None
    _store_at(monkeypatch, redis_url)
    client.config_set("appendfsync", "everysec")
    try:
        problem = redis_store.durability_problem(client)
        with caplog.at_level(logging.WARNING, logger="app.redis_store"):
            redis_store.warn_if_not_durable()
    finally:
        client.config_set("appendfsync", "always")
    assert problem == "appendfsync is 'everysec'; it needs 'appendonly yes' and 'appendfsync always'"
    assert "may lose the call journal in a power cut: appendfsync is 'everysec'" in caplog.text


def test_a_redis_that_cannot_be_reached_is_a_warning_not_a_crash(caplog, monkeypatch):
    _store_at(monkeypatch, "redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="app.redis_store"):
        redis_store.warn_if_not_durable()
    assert "could not be asked" in caplog.text
