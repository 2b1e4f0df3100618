"""Load generation for the load check: request bodies, sender threads, client processes."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3

from sandbox import rawclient

API_KEY = os.environ.get("SANDBOX_API_KEY", "sandbox-key")
USERNAME = os.environ.get("SANDBOX_USERNAME", "sandbox")
PATH = "/version1/messaging"
RESULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Plan:
    """What to fire: which client, where, how many threads and requests each, recipients per request."""

    client: str
    host: str
    port: int
    threads: int
    per_thread: int
    recipients: int = 1


def build_bodies(plan: Plan, sender: int) -> list[tuple[bytes, str]]:
    """Form bodies and Idempotency-Key headers made before timing starts; numbers never repeat."""
    bodies = []
    for index in range(plan.per_thread):
        first = index * plan.recipients
        numbers = [f"+26097{sender:03d}{n:07d}" for n in range(first, first + plan.recipients)]
        keys = [f"load-{sender}-{n}" for n in range(first, first + plan.recipients)]
        form = {"username": USERNAME, "to": ",".join(numbers), "message": "Load check"}
        bodies.append((urlencode(form).encode(), ",".join(keys)))
    return bodies


def send_urllib3(plan: Plan, bodies: list, latencies: list, statuses: dict) -> int:
    """Send every body over one urllib3 keep-alive connection; return connections opened."""
    pool = urllib3.HTTPConnectionPool(plan.host, plan.port, maxsize=1, retries=False, timeout=30.0)
    headers = {"apiKey": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    for body, keys in bodies:
        headers["Idempotency-Key"] = keys
        started = time.perf_counter()
        response = pool.urlopen("POST", PATH, body=body, headers=headers)
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    pool.close()
    return pool.num_connections


def send_raw(plan: Plan, bodies: list, latencies: list, statuses: dict) -> int:
    """Send every body with the bare socket client, requests encoded before timing starts."""
    requests = [
        rawclient.form_request(plan.host, plan.port, PATH, {"apiKey": API_KEY, "Idempotency-Key": keys}, body)
        for body, keys in bodies
    ]
    return rawclient.send_all(plan.host, plan.port, requests, latencies, statuses)


SENDERS = {"urllib3": send_urllib3, "raw": send_raw}


def run_threads(plan: Plan, proc: int) -> dict:
    """One process's share: plan.threads senders released together; wall times and tallies."""
    work = [build_bodies(plan, proc * plan.threads + t) for t in range(plan.threads)]
    send = SENDERS[plan.client]
    latencies: list[list[float]] = [[] for _ in range(plan.threads)]
    statuses: list[dict] = [{} for _ in range(plan.threads)]
    connections = [0] * plan.threads
    barrier = threading.Barrier(plan.threads + 1)

    def sender(t: int) -> None:
        """Wait for the start signal, then send this thread's bodies."""
        barrier.wait()
        connections[t] = send(plan, work[t], latencies[t], statuses[t])

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(plan.threads)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.time()
    for thread in threads:
        thread.join()
    return tally(started, time.time(), latencies, statuses, connections)


def tally(started: float, ended: float, latencies: list, statuses: list, connections: list) -> dict:
    """Merge per-thread results into one picklable summary."""
    merged: dict[int, int] = {}
    for counts in statuses:
        for status, count in counts.items():
            merged[status] = merged.get(status, 0) + count
    flat = sorted(x for chunk in latencies for x in chunk)
    return {
        "started": started,
        "ended": ended,
        "statuses": merged,
        "connections": sum(connections),
        "p50_ms": 1000 * flat[len(flat) // 2] if flat else 0.0,
        "p99_ms": 1000 * flat[int(len(flat) * 0.99)] if flat else 0.0,
    }


def _child(queue, plan: Plan, proc: int) -> None:
    """Process entry point: run this process's threads, send the summary home."""
    queue.put(run_threads(plan, proc))


def run_processes(plan: Plan, procs: int) -> list[dict]:
    """Spread the load over processes, so the client's own GIL is not the bottleneck."""
    if procs == 1:
        return [run_threads(plan, 0)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_child, args=(queue, plan, proc)) for proc in range(procs)]
    for child in children:
        child.start()
    try:
        return [queue.get(timeout=RESULT_TIMEOUT_S) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
