"""Helpers shared by the embedded PostgreSQL and Redis: paths, the data-dir lock, bounded commands, polling."""
from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import psutil

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / ".data"

LOCK_TIMEOUT = 180.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.1


class EmbeddedError(RuntimeError):
    """An embedded server could not be started, reached or stopped."""


@contextlib.contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    """Serialise start/stop across processes sharing one data dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_TIMEOUT
    with open(data_dir / ".embedded.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"timed out waiting for {data_dir}/.embedded.lock")
                time.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(argv: list[str], timeout: float, work_dir: Path, **kwargs) -> tuple[int, str]:
    """Run a command with bounded time; return (exit code, combined output)."""
    # Output goes to a file, not a pipe: a daemon forked by the command may
    # inherit the pipe and keep it open long after the command itself exits.
    with tempfile.TemporaryFile("w+", dir=work_dir) as out:
        try:
            code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout,
                                  check=False, **kwargs).returncode
        except subprocess.TimeoutExpired:
            code = -1
            out.write(f"\n[timed out after {timeout:.0f}s]\n")
        out.seek(0)
        return code, out.read()


def live_process(pid: int | None) -> psutil.Process | None:
    """Return the process if it exists and is not a zombie."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        # This machine's init may reap late, so a dead server can linger as a zombie.
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def read_int(path: Path) -> int | None:
    """Read the integer on the first line of a pid or port file, if any."""
    try:
        first = path.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def wait_until(predicate, timeout: float) -> bool:
    """Poll predicate until it is true or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL)


def tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def package_dir(name: str) -> Path:
    """Install dir of a package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"package {name!r} is not installed (see requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0])
