"""Where the local stack keeps its state and what it runs."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import embedded
import processes as process_table
from processes import Process


@dataclass
class Stack:
    """Where the stack keeps its state and what it runs; tests swap in their own."""

    root: Path = embedded.ROOT
    data_dir: Path = field(default_factory=lambda: Path(
        os.environ.get("HERALD_DATA_DIR") or embedded.DEFAULT_DATA_DIR).resolve())
    processes: list[Process] = field(default_factory=lambda: list(process_table.PROCESSES))
    migrate: list[str] | None = field(default_factory=lambda: list(process_table.MIGRATE))
    health_timeout: float = 60.0
    stop_timeout: float = 15.0
    migrate_timeout: float = 600.0
    # A process without a health check counts as up once it survived this long
    # (long enough for a celery app to import and fail on a bad config).
    settle: float = 5.0

    @property
    def logs_dir(self) -> Path:
        """Per-process log files."""
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files and launch records."""
        return self.data_dir / "run"
