"""Process supervision for the stack: migrate, start detached, wait for health, stop process groups."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from health_checks import healthy
from process_records import (group_members, leader, live_process, pid_path, read_record, remember_child,
                             remove_record, write_record)
from processes import Process
from stack_env import fill, placeholders, process_env
from stack_layout import Stack

POLL_INTERVAL = 0.25
LOG_TAIL_LINES = 40


def resolve_argv(stack: Stack, argv: list[str]) -> list[str]:
    """Anchor a relative program path at the repo root."""
    program = argv[0]
    if "/" in program and not os.path.isabs(program):
        program = str(stack.root / program)
    return [program, *argv[1:]]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def report_failure(stack: Stack, name: str, why: str) -> None:
    """Explain a failed process with the tail of its log."""
    log = stack.logs_dir / f"{name}.log"
    print(f"\n{name}: {why}; last lines of {log}:", file=sys.stderr)
    print(log_tail(log), file=sys.stderr)


def run_migrate(stack: Stack, common: dict[str, str]) -> bool:
    """Run the migrate step with its output in logs/migrate.log; True on success."""
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    log = stack.logs_dir / "migrate.log"
    argv = resolve_argv(stack, stack.migrate)
    print(f"migrate: {' '.join(stack.migrate)}")
    with open(log, "w") as out:
        try:
            code = subprocess.run(argv, cwd=stack.root, env={**os.environ, **common},
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=stack.migrate_timeout, check=False).returncode
        except OSError as exc:
            code = None
            out.write(f"cannot run {argv[0]}: {exc}\n")
        except subprocess.TimeoutExpired:
            code = None
            out.write(f"\n[timed out after {stack.migrate_timeout:.0f}s]\n")
    if code == 0:
        return True
    print(f"migrate failed (exit {code}); output from {log}:", file=sys.stderr)
    print(log_tail(log, 200), file=sys.stderr)
    return False


def start_process(stack: Stack, spec: Process, common: dict[str, str]) -> int:
    """Launch spec detached in its own session with output to its log; return its pid."""
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    fields = placeholders(stack, common)
    argv = resolve_argv(stack, [fill(arg, fields) for arg in spec.argv])
    env = process_env(common, spec, fields)
    with open(stack.logs_dir / f"{spec.name}.log", "ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n==== {stamp} starting: {' '.join(argv)}\n".encode())
        log.flush()
        # Own session: survives this command and can be signalled as a group.
        proc = subprocess.Popen(argv, cwd=stack.root, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    remember_child(proc)
    try:
        write_record(stack, spec.name, psutil.Process(proc.pid), argv)
    except psutil.NoSuchProcess:
        # Exited at once; record the pid anyway so the wait reports it.
        pid_path(stack, spec.name).write_text(f"{proc.pid}\n")
    return proc.pid


def wait_ready(stack: Stack, launched: dict[str, tuple[int, float]]) -> dict[str, str]:
    """Wait (bounded) for each launched process to pass its health check; return states."""
    specs = {spec.name: spec for spec in stack.processes}
    pending = dict(launched)
    states: dict[str, str] = {}
    deadline = time.monotonic() + stack.health_timeout
    while pending:
        for name, (pid, started) in list(pending.items()):
            spec = specs[name]
            if live_process(pid) is None:
                states[name] = "exited"
            elif spec.health is None:
                if time.monotonic() - started >= stack.settle:
                    states[name] = "up"
            elif healthy(spec.health):
                states[name] = "healthy"
            if name in states:
                del pending[name]
        if not pending:
            break
        if time.monotonic() > deadline:
            for name in pending:
                states[name] = "unhealthy"
            break
        time.sleep(POLL_INTERVAL)
    return states


def launch_missing(stack: Stack, common: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """Start each table process not already running; return (pid and start time, states)."""
    launched: dict[str, tuple[int, float]] = {}
    states: dict[str, str] = {}
    for spec in stack.processes:
        record = read_record(stack, spec.name)
        if record is not None and leader(record) is not None:
            states[spec.name] = "running"
            # Already up: its health check still has to pass, with no settle time.
            launched[spec.name] = (record.pid, float("-inf"))
            continue
        try:
            pid = start_process(stack, spec, common)
        except OSError as exc:
            remove_record(stack, spec.name)
            states[spec.name] = "failed"
            print(f"{spec.name}: cannot start {spec.argv[0]}: {exc}", file=sys.stderr)
            continue
        launched[spec.name] = (pid, time.monotonic())
    return launched, states


def settle_states(stack: Stack, launched: dict, states: dict[str, str]) -> None:
    """Wait for health, then fold the outcome into states, reporting failures."""
    ready = wait_ready(stack, launched)
    # Processes that passed early may have died while others were still starting.
    for name, (pid, _started) in launched.items():
        if ready.get(name) not in ("exited", "unhealthy") and live_process(pid) is None:
            ready[name] = "exited"
    for name, state in ready.items():
        if state in ("exited", "unhealthy"):
            why = "exited" if state == "exited" else f"not healthy after {stack.health_timeout:.0f}s"
            report_failure(stack, name, why)
            states[name] = state
        elif states.get(name) != "running":
            states[name] = state


def _signal_group(pgid: int, sig: int) -> None:
    """Send sig to a process group, ignoring one that is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_groups_gone(pgids: list[int], timeout: float) -> None:
    """Poll until no listed process group has live members, or timeout."""
    deadline = time.monotonic() + timeout
    while any(group_members(g) for g in pgids) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)


def stop_groups(groups: dict[str, int], timeout: float) -> tuple[list[str], list[str]]:
    """SIGTERM each group, SIGKILL what outlives timeout; return (killed, survivors)."""
    for pgid in groups.values():
        _signal_group(pgid, signal.SIGTERM)
    _wait_groups_gone(list(groups.values()), timeout)
    killed = [name for name, pgid in groups.items() if group_members(pgid)]
    for name in killed:
        _signal_group(groups[name], signal.SIGKILL)
    _wait_groups_gone([groups[name] for name in killed], 5)
    survivors = [name for name in killed if group_members(groups[name])]
    return killed, survivors
