"""A real stack (sandbox, gunicorn API, Celery worker, beat) for pipeline tests."""
from __future__ import annotations

import pytest
from scripts.testbed import Stack


@pytest.fixture(scope="module")
def stack(request, database_url, redis_url, tmp_path_factory):
    """Processes shared by one test module (its STACK_SETTINGS and STACK_WORKERS apply); sandbox reset per test."""
    settings = getattr(request.module, "STACK_SETTINGS", {})
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("stack")), **settings)
    try:
        yield running.start_all(bulk_workers=getattr(request.module, "STACK_WORKERS", 1))
    finally:
        running.stop()


@pytest.fixture
def gateway(stack, clean):
    """The sandbox, emptied and set to defaults for this test."""
    stack.sandbox("POST", "/_sandbox/reset")
    stack.sandbox("POST", "/_sandbox/config", json={"latency_ms": 0, "temp_failure_rate": 0.0,
                                                     "http_error_rate": 0.0, "rate_limit_per_s": 0,
                                                     "honour_idempotency": True})
    return stack
