"""`python -m bench.send_only`: one request per message and bulk alone, for comparing settings on one machine.

Each phase as `make bench` runs it (same stack, same sandbox), without the baseline and the
other phases; `--threads` sets HERALD_SEND_THREADS, `--fsync` the Redis appendfsync policy for
the run (restored afterwards), so the cost of the journal's durability can be read off directly.
"""
from __future__ import annotations

import argparse
import json
import tempfile

import redis

from bench.__main__ import fast_lane_p95, run_herald
from bench.common import machine, make_key
from scripts.testbed import Stack, reset_database, scratch_database_url, scratch_redis_url


def main() -> None:
    """Run the chosen send phases under the chosen settings and print their rates."""
    parser = argparse.ArgumentParser(prog="python -m bench.send_only")
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--fsync", choices=["always", "everysec", "no"], default="always")
    parser.add_argument("--modes", default="single,bulk")
    args = parser.parse_args()
    database_url, redis_url = scratch_database_url("herald_bench"), scratch_redis_url(8)
    reset_database(database_url)
    key = make_key(database_url, redis_url)
    server = redis.Redis.from_url(redis_url)
    before = server.config_get("appendfsync")["appendfsync"]
    server.config_set("appendfsync", args.fsync)
    stack = Stack(database_url, redis_url, tempfile.mkdtemp(prefix="herald-bench-"), SANDBOX_DLR_URL="",
                  HERALD_LEASE_SECONDS=120, HERALD_BATCH_SIZE=500, HERALD_RETRY_BASE_SECONDS=1,
                  HERALD_SEND_THREADS=args.threads)
    results = {"machine": machine(), "threads": args.threads, "fsync": args.fsync}
    try:
        stack.start_sandbox()
        stack.start_api()
        for mode in args.modes.split(","):
            probe: list = []
            rate, _ = run_herald(stack, database_url, key, args.recipients, 100 if mode == "bulk" else 0, mode,
                                 probe=probe if mode == "single" else None)
            results[f"{mode}_msgs_per_s"] = round(rate, 1)
            if probe:
                results["transactional_p95_seconds"] = round(fast_lane_p95(database_url, probe), 3)
    finally:
        stack.stop()
        server.config_set("appendfsync", before)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
