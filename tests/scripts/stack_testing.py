"""Helpers for the tests of scripts/: stand-in server URLs, free ports, waiting for processes to go."""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The scripts import each other as top-level modules, as when run directly.
sys.path.insert(0, str(REPO / "scripts"))

import process_records  # noqa: E402
from testbed import free_port  # noqa: E402,F401  (re-exported for the tests here)

STAND_IN_DB = "postgresql+psycopg2://postgres@/stand_in?host=/nonexistent"
STAND_IN_REDIS = "redis://127.0.0.1:1/0"


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """True once pid is gone or a zombie, within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_records.live_process(pid) is None:
            return True
        time.sleep(0.05)
    return False
