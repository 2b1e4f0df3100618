"""What the stack launched: pid files, launch records, and whether those processes still live."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from stack_layout import Stack

# Processes this interpreter started, kept so they can be reaped when it also
# stops them; otherwise they would linger as zombies and look alive.
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class Record:
    """What was launched under a name: pid from the pid file, plus its launch details."""

    name: str
    pid: int
    argv: list[str] | None
    create_time: float | None


def pid_path(stack: Stack, name: str) -> Path:
    """Pid file of a process."""
    return stack.run_dir / f"{name}.pid"


def launch_path(stack: Stack, name: str) -> Path:
    """Launch record (argv, start time) beside the pid file."""
    return stack.run_dir / f"{name}.json"


def write_record(stack: Stack, name: str, proc: psutil.Process, argv: list[str]) -> None:
    """Persist pid and launch details of a started process."""
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    launch = {"pid": proc.pid, "argv": argv, "create_time": proc.create_time()}
    launch_path(stack, name).write_text(json.dumps(launch) + "\n")
    pid_path(stack, name).write_text(f"{proc.pid}\n")


def read_record(stack: Stack, name: str) -> Record | None:
    """Load what was launched under name, if a pid file exists."""
    try:
        pid = int(pid_path(stack, name).read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    try:
        launch = json.loads(launch_path(stack, name).read_text())
    except (OSError, json.JSONDecodeError):
        launch = {}
    if launch.get("pid") != pid:
        launch = {}
    return Record(name, pid, launch.get("argv"), launch.get("create_time"))


def remove_record(stack: Stack, name: str) -> None:
    """Forget a process: pid file and launch record."""
    pid_path(stack, name).unlink(missing_ok=True)
    launch_path(stack, name).unlink(missing_ok=True)


def known_names(stack: Stack) -> list[str]:
    """Table names in order, then names only found as pid files (removed from the table)."""
    names = [spec.name for spec in stack.processes]
    if stack.run_dir.is_dir():
        names += sorted(p.stem for p in stack.run_dir.glob("*.pid") if p.stem not in names)
    return names


def remember_child(proc: subprocess.Popen) -> None:
    """Keep a child this interpreter started, so it is reaped once it exits."""
    _CHILDREN[proc.pid] = proc


def _reap() -> None:
    """Collect exit status of children this interpreter started."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def live_process(pid: int) -> psutil.Process | None:
    """The process with pid unless it is gone or a zombie."""
    _reap()
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except psutil.Error:
        return None


def cmdline_matches(cmdline: list[str], argv: list[str]) -> bool:
    """True if cmdline runs argv, directly or through a script's interpreter line."""
    tail = argv[1:]
    return argv[0] in cmdline[:2] and cmdline[len(cmdline) - len(tail):] == tail


def leader(record: Record) -> psutil.Process | None:
    """The recorded process if it is still the one that was launched."""
    proc = live_process(record.pid)
    if proc is None or record.argv is None:
        return None
    try:
        if cmdline_matches(proc.cmdline(), record.argv):
            return proc
        # A process that rewrites its title no longer matches its argv; the
        # start time still identifies it.
        if record.create_time is not None and abs(proc.create_time() - record.create_time) < 0.01:
            return proc
    except psutil.Error:
        pass
    return None


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes in a process group."""
    _reap()
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def owns_group(record: Record) -> bool:
    """True if the recorded pid's process group is still the one that was launched."""
    if live_process(record.pid) is not None:
        return leader(record) is not None
    # The leader is gone but its children may remain; a pid cannot be reused
    # while a process group of that id exists, so such members are ours.
    return bool(group_members(record.pid))
