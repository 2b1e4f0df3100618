"""Measure sandbox throughput: N sends (single-recipient by default) over keep-alive connections.

python -m sandbox.loadcheck --spawn --requests 20000 --threads 4 [--procs 2] [--client raw]
python -m sandbox.loadcheck --url http://127.0.0.1:8025 --recipients 100 --requests 500
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import urllib3

from sandbox.loadgen import SENDERS, Plan, run_processes

READY_TIMEOUT_S = 15.0


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_sandbox(port: int, threads: int) -> subprocess.Popen:
    """Start `python -m sandbox` on a port and wait (bounded) until it answers."""
    command = [sys.executable, "-m", "sandbox", "--port", str(port), "--threads", str(threads)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            urllib3.request("GET", f"http://127.0.0.1:{port}/_sandbox/config", timeout=1.0, retries=False)
            return process
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError("sandbox did not start in time")


def control(base: str, method: str, path: str, data: dict | None = None) -> dict:
    """Call a /_sandbox endpoint and return its JSON."""
    body = json.dumps(data).encode() if data is not None else None
    response = urllib3.request(method, base + path, body=body, timeout=30.0)
    return json.loads(response.data)


def summarise(results: list[dict], ledger: dict, recipients: int) -> dict:
    """Overall throughput from the earliest start to the latest end, with the server's view."""
    total = sum(sum(res["statuses"].values()) for res in results)
    elapsed = max(res["ended"] for res in results) - min(res["started"] for res in results)
    statuses: dict[str, int] = {}
    for res in results:
        for status, count in res["statuses"].items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    return {
        "requests": total,
        "recipients_per_request": recipients,
        "seconds": round(elapsed, 3),
        "req_per_s": round(total / elapsed, 1),
        "recipients_per_s": round(total * recipients / elapsed, 1),
        "statuses": statuses,
        "connections_opened": sum(res["connections"] for res in results),
        "p50_ms_worst_process": round(max(res["p50_ms"] for res in results), 2),
        "p99_ms_worst_process": round(max(res["p99_ms"] for res in results), 2),
        "server_accepted": ledger.get("accepted"),
        "server_duplicates": len(ledger.get("duplicate_recipients", [])),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8025", help="a running sandbox")
    parser.add_argument("--spawn", action="store_true", help="start a sandbox on a free port instead")
    parser.add_argument("--server-threads", type=int, default=32, help="with --spawn")
    parser.add_argument("--requests", type=int, default=20_000, help="in total, over all threads")
    parser.add_argument("--recipients", type=int, default=1, help="recipients per request")
    parser.add_argument("--threads", type=int, default=4, help="client threads (connections) per process")
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--client", choices=sorted(SENDERS), default="urllib3",
        help="urllib3 (what Herald uses) or raw (a bare socket client: measures the server alone)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Reset the sandbox at args.url, fire the load, return the summary."""
    parts = urlsplit(args.url)
    control(args.url, "POST", "/_sandbox/reset")
    control(args.url, "POST", "/_sandbox/config", {"latency_ms": args.latency_ms})
    per_thread = max(1, args.requests // (args.threads * args.procs))
    plan = Plan(args.client, parts.hostname, parts.port, args.threads, per_thread, args.recipients)
    results = run_processes(plan, args.procs)
    ledger = control(args.url, "GET", "/_sandbox/ledger?detail=0")
    return summarise(results, ledger, args.recipients)


def main(argv: list[str] | None = None) -> None:
    """Optionally start a sandbox, measure, print the summary as JSON."""
    args = parse_args(argv)
    process = None
    if args.spawn:
        port = free_port()
        process = spawn_sandbox(port, args.server_threads)
        args.url = f"http://127.0.0.1:{port}"
    try:
        print(json.dumps(run(args), indent=2))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
