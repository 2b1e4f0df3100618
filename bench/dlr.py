"""Delivery-report ingestion: reports POSTed to the real API until every one has moved its row.

The messages exist as `sent` rows (a scheduled broadcast, marked sent in SQL, so no
sender runs). Several client processes each keep a few connections alive and post
Africa's Talking's own form format, one report per request, as AT does. The clock
stops when the last row has left `sent`: stored and applied, not merely answered.
"""
from __future__ import annotations

import multiprocessing
import threading
import time
from urllib.parse import urlencode, urlsplit

import psycopg2
import requests

from sandbox.rawclient import RawConnection, form_request
from scripts.processes import PROCESSES
from scripts.testbed import VENV_BIN, WEBHOOK_SECRET, Stack, wait_until

CLIENT_PROCESSES = 2
CONNECTIONS_PER_PROCESS = 8
# Success for most, the two failure kinds for some: every report is final, so each one moves a row.
_OUTCOMES = [("Success", None)] * 8 + [("Failed", "DeliveryFailure"), ("Failed", "AbsentSubscriber")]


def api_argv(port: int) -> list[str]:
    """The API exactly as scripts/processes.py runs it, bound to `port`."""
    argv = list(next(p for p in PROCESSES if p.name == "api").argv)
    argv[0] = f"{VENV_BIN}/gunicorn"
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return argv


def prepare_sent_rows(stack: Stack, key: str, database_url: str, count: int) -> str:
    """A scheduled broadcast of `count` recipients whose rows are then marked sent with AT-like ids."""
    recipients = [{"to": f"+26096{n:07d}"} for n in range(count)]
    response = requests.post(f"{stack.api_url}/v1/broadcasts", timeout=600, headers={"Authorization": f"Bearer {key}"},
                             json={"channel": "sms", "body": "Bench: delivery reports", "recipients": recipients,
                                   "scheduled_for": "2099-01-01T00:00:00Z"})
    response.raise_for_status()
    broadcast_id = response.json()["id"]
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_bench_' || id, sent_at = now()"
                    " WHERE broadcast_id = %s AND status = 'pending'", (broadcast_id,))
        cur.execute("CHECKPOINT")
    conn.close()
    return broadcast_id


def report_requests(api_url: str, provider_ids: list[str]) -> list[bytes]:
    """One ready-made HTTP request per report, in AT's form format."""
    parts = urlsplit(api_url)
    path = f"/webhooks/africastalking/{WEBHOOK_SECRET}"
    built = []
    for index, pid in enumerate(provider_ids):
        status, reason = _OUTCOMES[index % len(_OUTCOMES)]
        form = {"id": pid, "status": status, "phoneNumber": f"+26096{index:07d}", "networkCode": "64502",
                "retryCount": "0", **({"failureReason": reason} if reason else {})}
        built.append(form_request(parts.hostname, parts.port, path, {}, urlencode(form).encode()))
    return built


def _post_all(host: str, port: int, batch: list[bytes], failures: list) -> None:
    """Send one connection's share of reports, in order, over one kept-alive socket."""
    connection = RawConnection(host, port)
    try:
        for request in batch:
            if connection.exchange(request) != 200:
                failures.append(1)
    finally:
        connection.close()


def client_process(host: str, port: int, batches: list[list[bytes]], start, errors) -> None:
    """One client process: a thread per connection, all released by the shared start event."""
    failures: list = []
    threads = [threading.Thread(target=_post_all, args=(host, port, batch, failures)) for batch in batches]
    start.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # perf_counter is CLOCK_MONOTONIC, the same clock in every process on the machine.
    errors.put((len(failures), time.perf_counter()))


def moved_rows(database_url: str, broadcast_id: str) -> int:
    """Rows of the broadcast no longer `sent`."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM messages WHERE broadcast_id = %s AND status <> 'sent'", (broadcast_id,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def post_and_time(stack: Stack, database_url: str, broadcast_id: str, count: int) -> tuple[float, float]:
    """Fire every report from the client processes; seconds until the last answer, and until the last row moved."""
    requests_ = report_requests(stack.api_url, [f"ATXid_bench_{n}" for n in _message_ids(database_url, broadcast_id)])
    lanes = CLIENT_PROCESSES * CONNECTIONS_PER_PROCESS
    batches = [requests_[lane::lanes] for lane in range(lanes)]
    ctx = multiprocessing.get_context("fork")
    start, errors = ctx.Event(), ctx.Queue()
    parts = urlsplit(stack.api_url)
    clients = [ctx.Process(target=client_process, args=(parts.hostname, parts.port,
                                                        batches[i::CLIENT_PROCESSES], start, errors))
               for i in range(CLIENT_PROCESSES)]
    for client in clients:
        client.start()
    time.sleep(1.0)
    started = time.perf_counter()
    start.set()
    wait_until(lambda: moved_rows(database_url, broadcast_id) >= count, timeout=600, interval=0.05,
               message="every delivery report applied")
    elapsed = time.perf_counter() - started
    finished = [errors.get(timeout=60) for _ in clients]
    for client in clients:
        client.join(timeout=60)
    failed = sum(n for n, _ in finished)
    if failed:
        raise SystemExit(f"dlr bench: {failed} reports were not answered 200")
    return max(at for _, at in finished) - started, elapsed


def _message_ids(database_url: str, broadcast_id: str) -> list[int]:
    """The broadcast's message ids (their provider ids are ATXid_bench_<id>)."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM messages WHERE broadcast_id = %s ORDER BY id", (broadcast_id,))
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _measure(stack: Stack, database_url: str, key: str, count: int, group_commit: bool) -> tuple[float, float]:
    """One pass: API (as the stack runs it) and control worker started fresh; (answered, applied) per second."""
    stack.env["HERALD_REPORT_GROUP_COMMIT"] = "1" if group_commit else "0"
    stack.kill("api")
    stack._start("api", api_argv(stack.api_port))
    wait_until(lambda: _answers(f"{stack.api_url}/healthz"), 30, 0.2, "the API")
    stack.start_worker("worker-control", queues="fanout,webhooks,dead_letter,maintenance", concurrency=2)
    broadcast_id = prepare_sent_rows(stack, key, database_url, count)
    time.sleep(3)
    answered, elapsed = post_and_time(stack, database_url, broadcast_id, count)
    stack.kill("worker-control")
    label = "group commit" if group_commit else "baseline, one commit per report"
    print(f"delivery reports ({label}): {count:,} POSTed by {CLIENT_PROCESSES * CONNECTIONS_PER_PROCESS} keep-alive "
          f"connections, all answered in {answered:.2f}s, all applied in {elapsed:.2f}s = {count / elapsed:,.0f}/s")
    return count / answered, count / elapsed


def run_dlr(stack: Stack, database_url: str, key: str, count: int) -> dict:
    """Reports per second from first POST to last row applied: the old per-report commit, then group commit."""
    _, baseline = _measure(stack, database_url, key, count, group_commit=False)
    answered, rate = _measure(stack, database_url, key, count, group_commit=True)
    stack.env.pop("HERALD_REPORT_GROUP_COMMIT", None)
    return {"dlr_reports": count, "dlr_per_s": round(rate, 1), "dlr_answered_per_s": round(answered, 1),
            "dlr_baseline_per_s": round(baseline, 1), "dlr_vs_baseline": round(rate / baseline, 2)}


def _answers(url: str) -> bool:
    """Whether a URL answers 200 yet."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
