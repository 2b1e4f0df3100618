"""Run Herald's local stack: embedded servers plus the process table.

usage: python scripts/stack.py {env|up|down|status|run -- CMD...}

  env     start the servers if needed; print `export NAME='value'` lines
  up      start the servers, migrate, start every process in scripts/processes.py
  down    stop the processes, then the embedded servers
  status  show the processes and embedded servers
  run     start the servers if needed, then exec CMD with the stack environment

State lives under .data/ (HERALD_DATA_DIR overrides): logs/<name>.log,
run/<name>.pid, stack.json (settings persisted on first use; edit its "env" to
change or add variables). Variables already set in the environment win over
everything computed here.
"""
from __future__ import annotations

import argparse
import os
import sys

import embedded
from health_checks import health_target, healthy
from process_records import known_names, leader, owns_group, read_record, remove_record
from stack_env import common_env, shell_quote
from stack_layout import Stack
from supervisor import launch_missing, run_migrate, settle_states, stop_groups


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns."""
    cells = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def cmd_env(stack: Stack) -> int:
    """Print export lines for the stack environment."""
    for name, value in common_env(stack).items():
        print(f"export {name}={shell_quote(value)}")
    return 0


def cmd_up(stack: Stack) -> int:
    """Start servers, migrate, start missing processes and wait for their health checks."""
    common = common_env(stack)
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    if stack.migrate and not run_migrate(stack, common):
        return 1
    launched, states = launch_missing(stack, common)
    settle_states(stack, launched, states)
    rows = [[spec.name, launched.get(spec.name, ("-",))[0], states[spec.name],
             health_target(spec.health)] for spec in stack.processes]
    print_table(["NAME", "PID", "STATE", "URL"], rows)
    print(f"logs: {stack.logs_dir}/<name>.log")
    return 0 if all(states[s.name] in ("running", "up", "healthy") for s in stack.processes) else 1


def cmd_down(stack: Stack) -> int:
    """Stop every recorded process group, then the embedded servers."""
    records = [r for r in (read_record(stack, n) for n in known_names(stack)) if r is not None]
    groups = {r.name: r.pid for r in records if owns_group(r)}
    killed, survivors = stop_groups(groups, stack.stop_timeout)
    for record in records:
        if record.name not in survivors:
            remove_record(stack, record.name)
    for name in groups:
        state = "still running" if name in survivors else "killed" if name in killed else "stopped"
        print(f"{name}: {state}")
    for server in embedded.stop_embedded(stack.data_dir):
        print(f"{server}: stopped (embedded)")
    if survivors:
        print(f"could not stop: {', '.join(survivors)}", file=sys.stderr)
        return 1
    return 0


def cmd_status(stack: Stack) -> int:
    """Print processes and embedded servers; never starts anything."""
    specs = {spec.name: spec for spec in stack.processes}
    rows = []
    for name in known_names(stack):
        spec = specs.get(name)
        health = spec.health if spec else None
        record = read_record(stack, name)
        proc = leader(record) if record is not None else None
        if proc is None:
            rows.append([name, "-", "stopped", "-", health_target(health)])
            continue
        check = "-" if health is None else ("ok" if healthy(health) else "failing")
        rows.append([name, proc.pid, "running", check, health_target(health)])
    for server in embedded.embedded_status(stack.data_dir):
        rows.append([f"{server['name']} (embedded)", server["pid"] or "-", server["state"], "-",
                     server["url"]])
    print_table(["NAME", "PID", "STATE", "HEALTH", "URL"], rows)
    return 0


def cmd_run(stack: Stack, command: list[str]) -> int:
    """Exec command with the stack environment (servers started if needed)."""
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("usage: stack.py run -- CMD [ARG...]", file=sys.stderr)
        return 2
    env = {**os.environ, **common_env(stack)}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("env", "up", "down", "status"):
        sub.add_parser(name)
    run = sub.add_parser("run")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, stack: Stack | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    stack = stack or Stack()
    try:
        if args.command == "run":
            return cmd_run(stack, args.cmd)
        return {"env": cmd_env, "up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](stack)
    except embedded.EmbeddedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
