"""`make bench`: intake latency, contact import, end-to-end throughput against the naive baseline, worker memory.

Everything runs on this machine in one invocation against one sandbox gateway:
(a) the naive baseline, (b) Herald with one request per message, (c) Herald in
bulk mode, (d) Herald through an SMPP account bound to the sandbox's SMSC.
Figures are printed and written to bench/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

import psycopg2
import requests

from bench.common import machine, make_key
from bench.dlr import run_dlr
from bench.contacts import measure_contact_import
from bench.memory import RssSampler
from bench.naive import TABLE_DDL
from scripts.testbed import ROOT, Stack, reset_database, scratch_database_url, scratch_redis_url, wait_until

RESULTS = os.path.join(ROOT, "bench", "results", "latest.json")
BASELINE_MAX = 50_000
# submit_sm outstanding per bind in the SMPP phase: the adapter's default window.
SMPP_WINDOW = 10


def numbers(count: int, offset: int = 0) -> list[str]:
    """Distinct valid numbers spread over MTN, Airtel and Zamtel."""
    prefixes = ("96", "97", "95", "76", "77")
    return [f"+260{prefixes[i % 5]}{(offset + i) % 10_000_000:07d}" for i in range(count)]


def post_broadcast(stack: Stack, key: str, count: int, offset: int) -> tuple[str, float]:
    """POST one broadcast over HTTP; return its id and the seconds the POST took."""
    payload = json.dumps({"channel": "sms", "body": "Herald bench: rains expected from Monday, plant early.",
                          "recipients": [{"to": n} for n in numbers(count, offset)]})
    started = time.perf_counter()
    response = requests.post(f"{stack.api_url}/v1/broadcasts", data=payload, timeout=600,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json()["id"], elapsed


def measure_intake(stack: Stack, key: str, count: int, runs: int = 3) -> float:
    """Median POST latency for `count` recipients; each broadcast is cancelled at once."""
    timings = []
    for run in range(runs):
        broadcast_id, elapsed = post_broadcast(stack, key, count, offset=run * count)
        timings.append(elapsed)
        requests.post(f"{stack.api_url}/v1/broadcasts/{broadcast_id}/cancel", timeout=60,
                      headers={"Authorization": f"Bearer {key}"}).raise_for_status()
    print(f"intake: POST of {count:,} recipients: " + ", ".join(f"{t:.3f}s" for t in timings))
    return statistics.median(timings)


def query(database_url: str, sql: str, params=()):
    """One scalar from PostgreSQL."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0] if cur.description else None
    finally:
        conn.close()


def settle_database(database_url: str) -> None:
    """Start a phase on a settled database: the last phase's dead rows vacuumed, its WAL checkpointed.

    Without this, the baseline's 100,000 row versions and ~0.5 GB of WAL were vacuumed and
    checkpointed during the next phase and billed to it (one request per message measured
    640-3,400 msg/s after the baseline, 4,200-4,600 without it, on this machine).
    """
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")
            cur.execute("CHECKPOINT")
    finally:
        conn.close()


def run_baseline(stack: Stack, database_url: str, count: int) -> float:
    """The naive design: one task per message. Returns messages per second."""
    query(database_url, TABLE_DDL)
    query(database_url, "TRUNCATE naive_messages")
    query(database_url, "INSERT INTO naive_messages (recipient, body) SELECT '+26096' || lpad(g::text, 7, '0'), "
                        "'Herald bench: rains expected from Monday, plant early.' FROM generate_series(1, %s) g",
          (count,))
    settle_database(database_url)
    stack.env["NAIVE_DATABASE_URL"] = database_url
    stack._start("naive-worker", [os.path.join(os.path.dirname(os.sys.executable), "celery"), "-A", "bench.naive",
                                  "worker", "-Q", "naive", "-c", "2", "--without-gossip", "--without-mingle",
                                  "--loglevel", "WARNING"])
    time.sleep(3)
    from bench.naive import app as naive_app, send_one

    naive_app.conf.broker_url = stack.env["REDIS_URL"]
    ids = range(1, count + 1)
    started = time.perf_counter()
    for message_id in ids:
        send_one.delay(message_id)
    wait_until(lambda: query(database_url, "SELECT count(*) FROM naive_messages WHERE status = 'sent'") >= count,
               timeout=3600, interval=0.5, message="the baseline to finish")
    elapsed = time.perf_counter() - started
    stack.kill("naive-worker")
    rate = count / elapsed
    print(f"baseline (one Celery task per message): {count:,} in {elapsed:.1f}s = {rate:,.0f} msg/s")
    return rate


def probe_fast_lane(stack: Stack, key: str, stop, posted: list) -> None:
    """POST a transactional message every 200 ms until stopped; remember (id, POST start time)."""
    number = 0
    while not stop.is_set() and number < 2000:
        started = time.time()
        response = requests.post(f"{stack.api_url}/v1/messages", timeout=30,
                                 headers={"Authorization": f"Bearer {key}"},
                                 json={"to": f"+26077{9_000_000 + number:07d}", "body": "Your code is 4821"})
        posted.append((response.json()["id"], started))
        number += 1
        stop.wait(0.2)


def settle_probes(database_url: str, posted: list, timeout: float = 15.0) -> int:
    """Wait (bounded) for the last probe messages to leave the queue; return how many the gateway took."""
    ids = [message_id for message_id, _ in posted]
    if not ids:
        return 0
    open_sql = "SELECT count(*) FROM messages WHERE id = ANY(%s) AND status IN ('pending', 'processing')"
    deadline = time.monotonic() + timeout
    while query(database_url, open_sql, (ids,)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return query(database_url, "SELECT count(*) FROM messages WHERE id = ANY(%s) AND sent_at IS NOT NULL", (ids,))


def fast_lane_p95(database_url: str, posted: list) -> float:
    """95th percentile of POST → sent for the probed transactional messages."""
    ids = [message_id for message_id, _ in posted]
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id, extract(epoch FROM sent_at) FROM messages WHERE id = ANY(%s)", (ids,))
        sent = dict(cur.fetchall())
    conn.close()
    delays = sorted(float(sent[mid]) - started if sent.get(mid) else 60.0 for mid, started in posted)
    return delays[int(0.95 * (len(delays) - 1))] if delays else float("nan")


def run_herald(stack: Stack, database_url: str, key: str, count: int, bulk: int, label: str,
               probe: list | None = None) -> tuple[float, RssSampler]:
    """POST a broadcast and time it until completed (probing the fast lane if asked); sample worker memory."""
    stack.env["AT_BULK_MAX"] = str(bulk)
    settle_database(database_url)
    stack.sandbox("POST", "/_sandbox/reset")
    stack.start_workers()
    time.sleep(4)
    stop = threading.Event()
    with RssSampler(lambda: [p.pid for n, p in stack.procs.items() if n == "worker"]) as sampler:
        started = time.perf_counter()
        broadcast_id, _ = post_broadcast(stack, key, count, offset=7_000_000)
        prober = threading.Thread(target=probe_fast_lane, args=(stack, key, stop, probe), daemon=True)
        if probe is not None:
            prober.start()
        wait_until(lambda: query(database_url, "SELECT status FROM broadcasts WHERE id = %s",
                                 (broadcast_id,)) == "completed", timeout=7200, interval=0.2,
                   message=f"{label} broadcast to complete")
        elapsed = time.perf_counter() - started
        stop.set()
        if probe is not None:
            prober.join(timeout=30)
    probes_sent = settle_probes(database_url, probe or [])
    stack.stop_workers()
    ledger = stack.sandbox("GET", "/_sandbox/ledger", params={"detail": "0"})
    rate = count / elapsed
    calls = f"{ledger['smpp']['submits']:,} submit_sm" if ledger["requests"] == 0 else f"{ledger['requests']:,} requests"
    print(f"herald {label}: {count:,} in {elapsed:.1f}s = {rate:,.0f} msg/s; gateway accepted {ledger['accepted']:,}"
          f" in {calls}; peak worker RSS {sampler.peak_process_mb:.0f} MB per process, "
          f"{sampler.peak_total_mb:.0f} MB in all (at 10/50/90% of the run: {sampler.trend()} MB)")
    # Numbers ending in the sandbox's magic suffixes (e.g. 999999, blacklisted) are refused on purpose.
    taken = query(database_url, "SELECT count(*) FROM messages WHERE broadcast_id = %s AND sent_at IS NOT NULL",
                  (broadcast_id,))
    if ledger["accepted"] != taken + probes_sent or taken < count - count // 100_000:
        raise SystemExit(f"{label}: gateway accepted {ledger['accepted']}, Herald recorded {taken} + {probes_sent}")
    return rate, sampler


def run_rate_limited(stack: Stack, key: str, rate: int = 200, seconds: int = 30) -> tuple[float, int]:
    """A broadcast through a 200/s limit with two worker processes: the gateway-side rate and its 429s."""
    stack.env.update(HERALD_RATE_LIMITS=f"africastalking={rate}", HERALD_SEND_THREADS="4", AT_BULK_MAX="0")
    stack.sandbox("POST", "/_sandbox/reset")
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limit_per_s": rate})
    stack.start_workers(bulk_workers=2, concurrency=1)
    time.sleep(4)
    broadcast_id, _ = post_broadcast(stack, key, rate * seconds, offset=8_000_000)
    wait_until(lambda: stack.sandbox("GET", "/_sandbox/ledger", params={"detail": "0"})["accepted"] >= rate * seconds,
               timeout=seconds * 4, interval=1.0, message="the rate-limited broadcast to finish")
    stack.stop_workers()
    ledger = stack.ledger()
    per_second = ledger["accepted_per_second"]
    first = min(int(t) for t in per_second) + 3
    measured = sum(per_second.get(str(t), 0) for t in range(first, first + 20)) / 20
    stack.sandbox("POST", "/_sandbox/config", json={"rate_limit_per_s": 0})
    del stack.env["HERALD_RATE_LIMITS"]
    print(f"rate limit {rate}/s, 2 worker processes x 4 threads: gateway saw {measured:.1f} msg/s over 20 s "
          f"({measured / rate - 1:+.1%}), {ledger['rate_limited']} answers 429")
    return measured, ledger["rate_limited"]


def run_smpp(stack: Stack, database_url: str, key: str, count: int, single: float) -> dict:
    """The per-message phase's broadcast through an SMPP account instead: one bind per worker process."""
    stack.env.update(HERALD_ACCOUNTS=json.dumps({"smpp": stack.smpp_account(window_size=SMPP_WINDOW)}),
                     HERALD_SMS_PROVIDER="smpp")
    stack.restart_api()
    # Receipts off, as the HTTP phases get no delivery reports: the dlr phase measures report intake.
    stack.sandbox("POST", "/_sandbox/config", json={"smpp_receipts": False})
    try:
        rate, _ = run_herald(stack, database_url, key, count, 0, f"SMPP, windowed submit_sm ({SMPP_WINDOW} per bind)")
    finally:
        stack.sandbox("POST", "/_sandbox/config", json={"smpp_receipts": True})
        for name in ("HERALD_ACCOUNTS", "HERALD_SMS_PROVIDER"):
            stack.env.pop(name, None)
        stack.restart_api()
    print(f"SMPP {rate:,.0f} msg/s against one request per message over HTTP {single:,.0f} msg/s "
          f"= {rate / single:.2f}x (same workers, same run)")
    return {"smpp_msgs_per_s": round(rate, 1), "smpp_window": SMPP_WINDOW, "smpp_vs_single": round(rate / single, 2)}


def run_smpp_phase(stack: Stack, database_url: str, key: str, count: int) -> dict:
    """`--only smpp`: the one-request-per-message phase it is compared with, then the SMPP phase."""
    single, _ = run_herald(stack, database_url, key, count, 0, "one request per message")
    return {"single_msgs_per_s": round(single, 1), **run_smpp(stack, database_url, key, count, single)}


def run_send_phases(stack: Stack, database_url: str, key: str, args) -> dict:
    """Intake, the naive baseline, Herald per message and in bulk, the rate limit: their figures."""
    results = {"intake_seconds_50k": round(measure_intake(stack, key, 50_000), 3),
               "contact_import_seconds_100k": round(measure_contact_import(stack.api_url, key), 3)}
    baseline_n = min(args.recipients, BASELINE_MAX)
    if not args.skip_baseline:
        results["baseline_msgs_per_s"] = round(run_baseline(stack, database_url, baseline_n), 1)
    probe: list = []
    single, single_mem = run_herald(stack, database_url, key, args.recipients, 0, "one request per message",
                                    probe=probe)
    results["transactional_p95_seconds"] = round(fast_lane_p95(database_url, probe), 3)
    results["transactional_probes"] = len(probe)
    print(f"fast lane during the broadcast: {len(probe)} transactional messages, POST → sent p95 "
          f"{results['transactional_p95_seconds']:.3f}s")
    bulk, bulk_mem = run_herald(stack, database_url, key, args.recipients, 100, "bulk (100 per request)")
    results.update(run_smpp(stack, database_url, key, args.recipients, single))
    if not args.skip_rate_limit:
        measured, refusals = run_rate_limited(stack, key)
        results.update(rate_limit_target_per_s=200, rate_limited_msgs_per_s=round(measured, 1),
                       rate_limit_429s=refusals)
    results.update(single_msgs_per_s=round(single, 1), bulk_msgs_per_s=round(bulk, 1),
                   peak_worker_rss_mb=round(max(single_mem.peak_process_mb, bulk_mem.peak_process_mb), 1),
                   peak_worker_tree_rss_mb=round(max(single_mem.peak_total_mb, bulk_mem.peak_total_mb), 1),
                   single_worker_rss_trend_mb=single_mem.trend(), bulk_worker_rss_trend_mb=bulk_mem.trend())
    if "baseline_msgs_per_s" in results:
        results["single_vs_baseline"] = round(single / results["baseline_msgs_per_s"], 2)
        results["bulk_vs_baseline"] = round(bulk / results["baseline_msgs_per_s"], 2)
    return results


def recipient_count(text: str) -> int:
    """--recipients: a whole number the API takes in one broadcast (1 to 1,000,000)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= count <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1,000,000, got {count:,}")
    return count


def main() -> None:
    """Run every phase (or the one asked for) and write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--recipients", type=recipient_count, default=50_000)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-rate-limit", action="store_true")
    parser.add_argument("--reports", type=int, default=20_000, help="delivery reports in the dlr phase")
    parser.add_argument("--only", choices=["dlr", "smpp"],
                        help="run one phase alone (results go to <phase>.json); smpp also runs the "
                             "one-request-per-message phase it is compared with")
    args = parser.parse_args()
    database_url, redis_url = scratch_database_url("herald_bench"), scratch_redis_url(8)
    reset_database(database_url)
    key = make_key(database_url, redis_url)
    stack = Stack(database_url, redis_url, tempfile.mkdtemp(prefix="herald-bench-"), SANDBOX_DLR_URL="",
                  HERALD_LEASE_SECONDS=120, HERALD_BATCH_SIZE=500, HERALD_RETRY_BASE_SECONDS=1)
    results = {"machine": machine(), "recipients": args.recipients}
    try:
        stack.start_sandbox()
        stack.start_api()
        if args.only is None:
            results.update(run_send_phases(stack, database_url, key, args))
        if args.only == "smpp":
            results.update(run_smpp_phase(stack, database_url, key, args.recipients))
        else:
            results.update(run_dlr(stack, database_url, key, args.reports))
    finally:
        stack.stop()
    names = [f"{args.only}.json"] if args.only else ["latest.json", f"run-{args.recipients}.json"]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    for name in names:
        with open(os.path.join(os.path.dirname(RESULTS), name), "w") as handle:
            json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
