"""`make fuzz`: Schemathesis against the running API, every check, valid and invalid inputs; a summary.

usage: python scripts/fuzz_live.py [--examples N] [--seed N] [--url URL] [-- ST-RUN-ARGS...]

Expects `scripts/stack.py up` to have started the stack; starts nothing itself. Runs
`st run <url>/openapi.json --checks all --mode all --max-examples 40` (settings in
scripts/fuzz_live.toml, hooks in scripts/fuzz_hooks.py) with a fresh key of the `fuzz-live` service
(HERALD_API_KEY overrides), handed over in the environment, never on the command line. The cases
create, change and delete rows of that service only (two seed contacts are imported first, for the
stateful phase to follow links to), so the URL must be on loopback. Prints
operations, cases per phase, answers per status, every 5xx, every check that failed and the
schema-valid requests refused by a documented rule no schema can state; exits 1 when any answer
was a 5xx, else with Schemathesis's own status.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests
from stack_layout import Stack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "scripts" / "fuzz_live.toml"
HOOKS = "fuzz_hooks"  # scripts/fuzz_hooks.py
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Contacts the stateful phase can follow links to (GET /v1/contacts -> read, change, erase one).
SEED_CONTACTS = "external_id,phone,language\nfuzz-seed-1,+260961000001,bem\nfuzz-seed-2,+260971000002,nya\n"


def api_key() -> str:
    """HERALD_API_KEY, or a fresh key of the fuzz-live service (created on first use)."""
    if os.environ.get("HERALD_API_KEY"):
        return os.environ["HERALD_API_KEY"]
    from app import create_app
    from app.extensions import db
    from app.models import Service
    from app.services.control import auth

    app = create_app()
    with app.app_context():
        service = db.session.query(Service).filter_by(name="fuzz-live").first()
        service = service or auth.create_service("fuzz-live")
        return auth.create_api_key(service.id, "fuzz-live")


def seed_contacts(url: str, key: str) -> None:
    """(Re)import the seed contacts through the API, so links from the contact list lead somewhere."""
    requests.post(f"{url}/v1/contacts/import", data=SEED_CONTACTS.encode(), timeout=30,
                  headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}).raise_for_status()


def st_command(url: str, examples: int, seed: int, report: Path, extra: list[str]) -> list[str]:
    """The `st run` command line (no secret in it)."""
    st = Path(sys.executable).with_name("st")
    return [str(st), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--checks", "all",
            "--mode", "all", "--max-examples", str(examples), "--seed", str(seed), "--continue-on-failure",
            "--report", "ndjson", "--report-ndjson-path", str(report), *extra]


def events(report: Path, kind: str):
    """Every event of one kind in the NDJSON report."""
    with report.open() as lines:
        for line in lines:
            event = json.loads(line)
            if kind in event:
                yield event[kind]


def summarise(report: Path) -> dict:
    """Cases per phase, answers per status, the 5xx answers and the failed checks per operation."""
    phases, statuses, failures, server_errors = Counter(), Counter(), Counter(), []
    loaded = next(events(report, "LoadingFinished"))["statistic"]["operations"]
    for scenario in events(report, "ScenarioFinished"):
        recorder = scenario["recorder"]
        for case_id, interaction in recorder.get("interactions", {}).items():
            case = recorder["cases"][case_id]["value"]
            status = (interaction.get("response") or {}).get("status_code")
            phases[scenario["phase"]] += 1
            statuses[status] += 1
            if status is not None and status >= 500:
                server_errors.append(f"{status} {case['method']} {interaction['request']['uri']}")
        for case_id, checks in recorder.get("checks", {}).items():
            case = recorder["cases"][case_id]["value"]
            for check in checks:
                if check["status"] == "failure":
                    failures[f"{check['name']}: {case['method']} {case['path']}"] += 1
    return {"operations": loaded["selected"], "phases": phases, "statuses": statuses, "failures": failures,
            "server_errors": server_errors, "dropped": Counter()}


def dropped_refusals(record: Path) -> Counter:
    """Schema-valid requests refused by a documented rule beyond the schema, per (operation, code)."""
    if not record.exists():
        return Counter()
    with record.open(encoding="utf-8") as lines:
        return Counter(tuple(line.rstrip("\n").split("\t", 1)) for line in lines if "\t" in line)


def print_summary(summary: dict, elapsed: float) -> None:
    """The figures a reader compares between runs."""
    phases, statuses = summary["phases"], summary["statuses"]
    print(f"\n== live fuzz summary ({elapsed:.0f} s)")
    print(f"operations: {summary['operations']}   cases: {sum(phases.values())} "
          f"({', '.join(f'{name} {count}' for name, count in phases.items())})")
    print("answers: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items(), key=str)))
    print(f"5xx answers: {len(summary['server_errors'])}")
    for line in summary["server_errors"]:
        print(f"  {line}")
    print(f"failed checks: {sum(summary['failures'].values())} in {len(summary['failures'])} check/operation pairs")
    for label, count in sorted(summary["failures"].items()):
        print(f"  {count:>4}  {label}")
    dropped = summary["dropped"]
    print(f"schema-valid requests refused by a documented rule no schema states (422 with its code): "
          f"{sum(dropped.values())}")
    for (operation, code), count in sorted(dropped.items()):
        print(f"  {count:>4}  {operation}: {code}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; anything after `--` goes to `st run`."""
    parser = argparse.ArgumentParser(prog="fuzz_live.py", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HERALD_API_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--examples", type=int, default=40, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, default=2026, help="same seed, same cases")
    parser.add_argument("extra", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    url = args.url.rstrip("/")
    if urlsplit(url).hostname not in LOOPBACK:
        print(f"refusing {url}: the cases write and delete data, so only a loopback API", file=sys.stderr)
        return 2
    try:
        requests.get(f"{url}/healthz", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        print(f"the API at {url} does not answer /healthz ({exc}); start it with scripts/stack.py up",
              file=sys.stderr)
        return 2
    report = Stack().data_dir / "fuzz" / f"live-{time.strftime('%Y%m%dT%H%M%S')}.ndjson"
    report.parent.mkdir(parents=True, exist_ok=True)
    dropped = report.with_suffix(".dropped.tsv")
    command = st_command(url, args.examples, args.seed, report, [a for a in args.extra if a != "--"])
    print(" ".join(command), flush=True)
    started = time.monotonic()
    key = api_key()
    seed_contacts(url, key)
    env = {**os.environ, "HERALD_FUZZ_KEY": key, "SCHEMATHESIS_HOOKS": HOOKS, "HERALD_FUZZ_DROPPED": str(dropped),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "scripts"), os.environ.get("PYTHONPATH")]))}
    status = subprocess.run(command, env=env).returncode
    summary = {**summarise(report), "dropped": dropped_refusals(dropped)}
    print_summary(summary, time.monotonic() - started)
    print(f"report: {report}")
    return 1 if summary["server_errors"] else status


if __name__ == "__main__":
    sys.exit(main())
