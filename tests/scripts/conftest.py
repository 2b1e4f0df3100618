"""Fixtures for the tests of scripts/: a stack confined to a temporary dir and its command line."""
from __future__ import annotations

import pytest

# First: stack_testing puts scripts/ on sys.path for the imports below.
from stack_testing import STAND_IN_DB, STAND_IN_REDIS

import stack as stack_mod
from stack_layout import Stack

STACK_VARS = ("AT_BASE_URL", "AT_USERNAME", "AT_API_KEY", "AT_HONOURS_IDEMPOTENCY_KEY",
              "HERALD_WEBHOOK_SECRET")


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """A Stack confined to tmp_path, with server URLs preset; torn down afterwards."""
    monkeypatch.setenv("DATABASE_URL", STAND_IN_DB)
    monkeypatch.setenv("REDIS_URL", STAND_IN_REDIS)
    for name in STACK_VARS:
        monkeypatch.delenv(name, raising=False)
    test_stack = Stack(root=tmp_path, data_dir=tmp_path / ".data", processes=[],
                       migrate=None, health_timeout=20, stop_timeout=5, settle=0.5)
    yield test_stack
    stack_mod.cmd_down(test_stack)


@pytest.fixture
def cli(stack):
    """Run a stack command in-process against the test's stack; return its exit status."""
    return lambda *args: stack_mod.main(list(args), stack=stack)
