"""A segment of 300,000 contacts out of 1,000,000, end to end: producer memory flat, exactly the segment sent.

    python -m bench.audience [--contacts 1000000] [--newcomers 5000]     (under scripts/stack.py run)

Contacts are imported through the API (100,000 per request); the segment is `hectares <= 6`, 30% of
them. The first broadcast must produce a row for exactly the segment's contacts and the gateway
must accept each of them once; the producer (the control worker, which pages the audience into
rows) is sampled for memory throughout. Then newcomers join the segment and a second broadcast,
"excluding those who received the first", must reach the newcomers only.
Results go to bench/results/audience.json.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import requests

from bench.contacts import contacts_csv
from bench.memory import RssSampler
from scripts.testbed import ROOT, Stack, reset_database, scratch_database_url, scratch_redis_url, wait_until

SEGMENT = {"field": "attributes.hectares", "lte": 6}
IMPORT_CHUNK = 100_000
RESULTS = os.path.join(ROOT, "bench", "results", "audience.json")


def in_segment(index: int) -> bool:
    """Whether bench.contacts' contact number `index` falls in SEGMENT (its hectares are 1 + index % 20)."""
    return 1 + index % 20 <= 6


def phone(index: int) -> str:
    """bench.contacts' phone for contact number `index`."""
    return f"+260{('96', '97', '95', '76', '77')[index % 5]}{index % 10_000_000:07d}"


def import_contacts(api_url: str, key: str, start: int, count: int) -> float:
    """Import contacts start..start+count in chunks; seconds taken."""
    began = time.perf_counter()
    for offset in range(start, start + count, IMPORT_CHUNK):
        size = min(IMPORT_CHUNK, start + count - offset)
        response = requests.post(f"{api_url}/v1/contacts/import", data=contacts_csv(size, offset), timeout=600,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"})
        response.raise_for_status()
        if response.json()["created"] != size:
            raise SystemExit(f"import at {offset}: {response.json()}")
    return time.perf_counter() - began


def broadcast(stack: Stack, key: str, **audience) -> tuple[str, int, float, RssSampler]:
    """POST a segment broadcast and wait for it to complete; (id, audience, seconds, producer sampler)."""
    stack.sandbox("POST", "/_sandbox/reset")
    headers = {"Authorization": f"Bearer {key}"}
    with RssSampler(lambda: [p.pid for n, p in stack.procs.items() if n == "worker-control"]) as sampler:
        began = time.perf_counter()
        response = requests.post(f"{stack.api_url}/v1/broadcasts", headers=headers, timeout=120, json={
            "channel": "sms", "body": "Advisory for ((district)): plant early, rains from Monday.",
            "filter": SEGMENT, **audience})
        response.raise_for_status()
        created = response.json()
        wait_until(lambda: requests.get(f"{stack.api_url}/v1/broadcasts/{created['id']}", headers=headers,
                                        timeout=60).json()["status"] == "completed",
                   timeout=3600, interval=1.0, message="the segment broadcast to complete")
        seconds = time.perf_counter() - began
    return created["id"], created["audience"], seconds, sampler


def sent_to(stack: Stack, broadcast_id: str, key: str) -> dict[str, int]:
    """Rows of the broadcast by status, from its report export (what Herald wrote)."""
    counts: dict[str, int] = {}
    response = requests.get(f"{stack.api_url}/v1/broadcasts/{broadcast_id}", timeout=60,
                            headers={"Authorization": f"Bearer {key}"})
    for status, n in response.json()["counts"].items():
        if n:
            counts[status] = n
    return counts


def check_ledger(stack: Stack, expected: set[str]) -> dict:
    """The gateway accepted each expected number at most once and nothing else; its figures."""
    ledger = stack.ledger()
    accepted = set(ledger["by_recipient"])
    if ledger["duplicate_recipients"] or not accepted <= expected:
        raise SystemExit(f"gateway saw duplicates {ledger['duplicate_recipients'][:5]} or strangers "
                         f"{sorted(accepted - expected)[:5]}")
    # The sandbox refuses a few numbers on purpose (magic suffixes): those are the only ones missing.
    missing = expected - accepted
    if len(missing) > len(expected) // 100_000 + 3:
        raise SystemExit(f"{len(missing)} of the segment never reached the gateway, e.g. {sorted(missing)[:5]}")
    return {"accepted": len(accepted), "refused_by_sandbox": len(missing)}


def main() -> None:
    """Import, broadcast to the segment, add newcomers, broadcast excluding the first's receivers."""
    from bench.common import machine, make_key

    parser = argparse.ArgumentParser(prog="python -m bench.audience")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--newcomers", type=int, default=5_000)
    args = parser.parse_args()
    database_url, redis_url = scratch_database_url("herald_bench_audience"), scratch_redis_url(6)
    reset_database(database_url)
    key = make_key(database_url, redis_url)
    stack = Stack(database_url, redis_url, tempfile.mkdtemp(prefix="herald-bench-audience-"), SANDBOX_DLR_URL="",
                  HERALD_LEASE_SECONDS=120, HERALD_BATCH_SIZE=500, HERALD_RETRY_BASE_SECONDS=1,
                  HERALD_MAX_CONTACT_ROWS=IMPORT_CHUNK)
    results = {"machine": machine(), "contacts": args.contacts}
    try:
        stack.start_sandbox()
        stack.start_api()
        results["import_seconds"] = round(import_contacts(stack.api_url, key, 0, args.contacts), 1)
        print(f"audience: imported {args.contacts:,} contacts in {results['import_seconds']}s")
        stack.start_workers()
        time.sleep(4)
        segment = {phone(i) for i in range(args.contacts) if in_segment(i)}
        first, audience, seconds, sampler = broadcast(stack, key)
        results.update(segment=len(segment), audience=audience, first_seconds=round(seconds, 1),
                       first_rows=sent_to(stack, first, key), first_ledger=check_ledger(stack, segment),
                       producer_peak_rss_mb=round(sampler.peak_total_mb, 1),
                       producer_rss_trend_mb=sampler.trend())
        print(f"audience: segment of {len(segment):,} sent in {seconds:.1f}s; rows {results['first_rows']}; "
              f"producer RSS at 10/50/90%: {sampler.trend()} MB (peak {sampler.peak_total_mb:.0f} MB)")
        if audience != len(segment) or sum(results["first_rows"].values()) != len(segment):
            raise SystemExit(f"audience {audience} / rows {results['first_rows']} != segment {len(segment)}")
        import_contacts(stack.api_url, key, args.contacts, args.newcomers)
        newcomers = {phone(i) for i in range(args.contacts, args.contacts + args.newcomers) if in_segment(i)}
        second, audience2, seconds2, _ = broadcast(stack, key, exclude_received=first)
        results.update(newcomers=len(newcomers), second_audience=audience2, second_seconds=round(seconds2, 1),
                       second_ledger=check_ledger(stack, newcomers))
        print(f"audience: excluding the first's receivers, the second reached {results['second_ledger']} "
              f"of {len(newcomers):,} newcomers (audience {audience2:,})")
    finally:
        stack.stop()
    with open(RESULTS, "w") as handle:
        json.dump(results, handle, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
