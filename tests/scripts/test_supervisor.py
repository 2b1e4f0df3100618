"""Tests for the process supervisor behind `stack.py up|status|down` (scripts/supervisor.py, process_records.py).

They use stand-in processes (http.server, sleep) in a temporary data dir with
DATABASE_URL/REDIS_URL preset, so no embedded server starts.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

# First: stack_testing puts scripts/ on sys.path for the imports below.
from stack_testing import STAND_IN_DB, free_port, wait_gone

import process_records
from processes import PROCESSES, Process

WRITE_THEN_SLEEP = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(300)"


def web_server(name: str, port: int, health: str | int | None = None) -> Process:
    """Stand-in HTTP service, health-checked over HTTP unless told otherwise."""
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    return Process(name, argv, health if health is not None else f"http://127.0.0.1:{port}/")


def python_process(name: str, code: str, **kwargs) -> Process:
    """Stand-in process running a Python snippet."""
    return Process(name, [sys.executable, "-c", code], **kwargs)


def test_up_status_down_cycle(stack, cli, capsys):
    http_port, tcp_port = free_port(), free_port()
    stack.processes = [
        web_server("web", http_port),
        web_server("tcp", tcp_port, health=tcp_port),
        Process("sleeper", ["sleep", "300"], env={"DLR": "http://x/{webhook_secret}"}),
        Process("writer", [sys.executable, "-c", WRITE_THEN_SLEEP, "{data_dir}/run/written"]),
    ]
    assert cli("up") == 0
    out = capsys.readouterr().out
    assert "healthy" in out and "up" in out

    pids = {name: process_records.read_record(stack, name).pid for name in ("web", "tcp", "sleeper", "writer")}
    assert (stack.run_dir / "written").exists()
    for name, pid in pids.items():
        # Own session, so the whole group can be signalled.
        assert os.getsid(pid) == pid
        assert psutil.Process(pid).cwd() == str(stack.root)
        assert (stack.logs_dir / f"{name}.log").exists()
    secret = json.loads((stack.data_dir / "stack.json").read_text())["webhook_secret"]
    assert psutil.Process(pids["sleeper"]).environ()["DLR"] == f"http://x/{secret}"
    assert psutil.Process(pids["web"]).environ()["DATABASE_URL"] == STAND_IN_DB

    # Second up leaves running processes alone.
    assert cli("up") == 0
    assert "running" in capsys.readouterr().out
    assert {n: process_records.read_record(stack, n).pid for n in pids} == pids

    assert cli("status") == 0
    status = capsys.readouterr().out
    assert status.count("running") == 4 and "ok" in status

    assert cli("down") == 0
    for pid in pids.values():
        assert wait_gone(pid)
    assert not list(stack.run_dir.glob("*.pid"))

    assert cli("down") == 0
    assert cli("status") == 0
    assert capsys.readouterr().out.count("stopped") >= 4


def test_up_restarts_a_process_that_died(stack, cli):
    stack.processes = [Process("sleeper", ["sleep", "300"])]
    assert cli("up") == 0
    first = process_records.read_record(stack, "sleeper").pid
    os.killpg(first, signal.SIGKILL)
    assert wait_gone(first)
    assert cli("up") == 0
    second = process_records.read_record(stack, "sleeper").pid
    assert second != first and process_records.live_process(second) is not None


def test_up_fails_with_log_tail_when_a_process_exits(stack, cli, capsys):
    stack.processes = [python_process("crasher", "print('boom: bad config', flush=True); raise SystemExit(3)")]
    assert cli("up") == 1
    captured = capsys.readouterr()
    assert "boom: bad config" in captured.err
    assert "exited" in captured.out


def test_up_fails_when_health_check_never_passes(stack, cli, capsys):
    stack.health_timeout = 1.5
    stack.processes = [Process("mute", ["sleep", "300"], health=f"http://127.0.0.1:{free_port()}/")]
    started = time.monotonic()
    assert cli("up") == 1
    assert time.monotonic() - started < 15
    captured = capsys.readouterr()
    assert "not healthy" in captured.err and "unhealthy" in captured.out


def test_up_notices_a_process_that_dies_while_others_start(stack, cli, capsys):
    port = free_port()
    slow_web = ("import runpy, sys, time; time.sleep(2); "
                f"sys.argv = ['http.server', '--bind', '127.0.0.1', '{port}']; "
                "runpy.run_module('http.server', run_name='__main__')")
    stack.processes = [
        python_process("short-lived", "import time; time.sleep(1); print('lost broker', flush=True)"),
        python_process("slow-web", slow_web, health=f"http://127.0.0.1:{port}/"),
    ]
    assert cli("up") == 1
    captured = capsys.readouterr()
    assert "lost broker" in captured.err
    assert "short-lived" in captured.out and "exited" in captured.out

def test_up_reports_missing_program(stack, cli, capsys):
    stack.processes = [Process("ghost", [".venv/bin/no-such-program"])]
    assert cli("up") == 1
    assert "cannot start" in capsys.readouterr().err
    assert not process_records.pid_path(stack, "ghost").exists()


def test_migrate_runs_first_with_stack_env(stack, cli, tmp_path):
    marker = tmp_path / "migrated"
    stack.migrate = [sys.executable, "-c",
                     f"import os, pathlib; pathlib.Path({str(marker)!r}).write_text(os.environ['DATABASE_URL'])"]
    stack.processes = [Process("sleeper", ["sleep", "300"])]
    assert cli("up") == 0
    assert marker.read_text() == STAND_IN_DB


def test_failed_migrate_stops_up_loudly(stack, cli, capsys):
    stack.migrate = [sys.executable, "-c", "import sys; print('Can\\'t locate revision abc'); sys.exit(2)"]
    stack.processes = [Process("sleeper", ["sleep", "300"])]
    assert cli("up") == 1
    assert "Can't locate revision abc" in capsys.readouterr().err
    assert not process_records.pid_path(stack, "sleeper").exists()


def test_down_kills_group_that_ignores_sigterm(stack, cli, capsys):
    stack.stop_timeout = 1
    # SIG_IGN survives exec, so the child sleep ignores SIGTERM as well.
    code = ("import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "subprocess.Popen(['sleep', '300']); time.sleep(300)")
    stack.processes = [python_process("stubborn", code)]
    assert cli("up") == 0
    pid = process_records.read_record(stack, "stubborn").pid
    deadline = time.monotonic() + 10
    while len(process_records.group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = process_records.group_members(pid)
    assert len(members) == 2
    capsys.readouterr()

    started = time.monotonic()
    assert cli("down") == 0
    assert time.monotonic() - started < 10
    assert "stubborn: killed" in capsys.readouterr().out
    assert all(wait_gone(member.pid) for member in members)


def test_down_stops_orphans_of_a_dead_leader(stack, cli):
    code = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    stack.processes = [python_process("parent", code)]
    assert cli("up") == 0
    pid = process_records.read_record(stack, "parent").pid
    deadline = time.monotonic() + 10
    while len(process_records.group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    child = next(p for p in process_records.group_members(pid) if p.pid != pid)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    assert cli("down") == 0
    assert wait_gone(child.pid)


def test_stale_pidfile_never_kills_an_unrelated_process(stack, cli, capsys):
    stack.processes = [web_server("web", free_port())]
    unrelated = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        stack.run_dir.mkdir(parents=True)
        process_records.pid_path(stack, "web").write_text(f"{unrelated.pid}\n")
        launch = {"pid": unrelated.pid, "argv": stack.processes[0].argv, "create_time": 0}
        process_records.launch_path(stack, "web").write_text(json.dumps(launch))

        assert cli("status") == 0
        assert "stopped" in capsys.readouterr().out
        assert cli("down") == 0
        assert unrelated.poll() is None
        assert not process_records.pid_path(stack, "web").exists()
    finally:
        unrelated.kill()
        unrelated.wait(timeout=10)


def test_down_covers_processes_removed_from_the_table(stack, cli):
    stack.processes = [Process("old", ["sleep", "300"])]
    assert cli("up") == 0
    pid = process_records.read_record(stack, "old").pid
    stack.processes = []
    assert cli("down") == 0
    assert wait_gone(pid)


def test_cmdline_match_accepts_interpreter_line():
    argv = ["/repo/.venv/bin/celery", "-A", "tasks.celery_app", "worker"]
    assert process_records.cmdline_matches(argv, argv)
    assert process_records.cmdline_matches(["/repo/.venv/bin/python3", *argv], argv)
    assert not process_records.cmdline_matches(["/usr/bin/sleep", "300"], argv)
    assert not process_records.cmdline_matches(["/repo/.venv/bin/celery", "-A", "other", "worker"], argv)


def test_process_table_is_well_formed():
    names = [spec.name for spec in PROCESSES]
    assert names == ["sandbox", "api", "ingest", "worker", "worker-control", "worker-priority", "beat", "flower"]
    for spec in PROCESSES:
        assert spec.argv[0].startswith(".venv/bin/")
        assert spec.health is None or isinstance(spec.health, int) or spec.health.startswith("http://")
