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


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    """A stack on PostgreSQL and Redis of its own (a test may stop them), against a gateway that
    does not honour idempotency keys, as most real ones do not; stopped after its module, so its
    beat and workers never load the machine under later, timing-sensitive tests."""
    from fault_stack import Operator, start_fault_stack

    servers, running = start_fault_stack(str(tmp_path_factory.mktemp("faults")), AT_HONOURS_IDEMPOTENCY_KEY="0")
    try:
        yield servers, running, Operator(running)
    finally:
        running.stop()
        servers.stop()


@pytest.fixture
def faulty(fault_stack):
    """The fault stack with its sandbox emptied, deduplication off, defaults otherwise."""
    servers, running, operator = fault_stack
    operator.cancel_live_broadcasts()
    running.sandbox("POST", "/_sandbox/reset")
    running.sandbox("POST", "/_sandbox/config", json={"latency_ms": 0, "temp_failure_rate": 0.0,
                                                       "http_error_rate": 0.0, "rate_limit_per_s": 0,
                                                       "retry_after_s": 0, "honour_idempotency": False})
    return fault_stack
