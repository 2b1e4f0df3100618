"""Delivery-report ingestion: reports POSTed to the real API until every one has moved its row.

The messages exist as `sent` rows (a scheduled broadcast, marked sent in SQL, so no
sender runs). Several client processes each keep a few connections alive and post
reports in a gateway's own format: Africa's Talking's form, one report per request,
as AT does; and Infobip's JSON callback, many reports per request, as Infobip does.
The clock stops when the last row has left `sent`: stored and applied, not merely answered.
"""
from __future__ import annotations

import json
import multiprocessing
import threading
import time
from urllib.parse import urlencode, urlsplit

import psycopg2
import requests

from sandbox.rawclient import RawConnection, form_request
from scripts.processes import PROCESSES
from scripts.testbed import VENV_BIN, WEBHOOK_SECRET, Stack, free_port, wait_until

CLIENT_PROCESSES = 2
CONNECTIONS_PER_PROCESS = 8
# The account whose gateway reports in bulk, and how many reports one of its callbacks carries.
BULK_ACCOUNT = "infobip_bench"
BULK_REPORTS_PER_POST = 100
_INFOBIP_GROUPS = [("DELIVERED", "DELIVERED_TO_HANDSET")] * 8 + [("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED"),
                                                                  ("EXPIRED", "EXPIRED_EXPIRED")]
# Success for most, the two failure kinds for some: every report is final, so each one moves a row.
_OUTCOMES = [("Success", None)] * 8 + [("Failed", "DeliveryFailure"), ("Failed", "AbsentSubscriber")]


def api_argv(port: int) -> list[str]:
    """The API exactly as scripts/processes.py runs it, bound to `port`."""
    argv = list(next(p for p in PROCESSES if p.name == "api").argv)
    argv[0] = f"{VENV_BIN}/gunicorn"
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return argv


def ingest_argv(port: int) -> list[str]:
    """The ingest process exactly as scripts/processes.py runs it, bound to `port`."""
    argv = list(next(p for p in PROCESSES if p.name == "ingest").argv)
    argv[0] = f"{VENV_BIN}/python"
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return argv


def prepare_sent_rows(stack: Stack, key: str, database_url: str, count: int, account: str | None = None) -> str:
    """A scheduled broadcast of `count` recipients whose rows are then marked sent (through `account`)."""
    recipients = [{"to": f"+26096{n:07d}"} for n in range(count)]
    response = requests.post(f"{stack.api_url}/v1/broadcasts", timeout=600, headers={"Authorization": f"Bearer {key}"},
                             json={"channel": "sms", "body": "Bench: delivery reports", "recipients": recipients,
                                   "scheduled_for": "2099-01-01T00:00:00Z"})
    response.raise_for_status()
    broadcast_id = response.json()["id"]
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_bench_' || id, sent_at = now(),"
                    " provider = COALESCE(%s, provider) WHERE broadcast_id = %s AND status = 'pending'",
                    (account, broadcast_id))
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


def bulk_report_requests(api_url: str, provider_ids: list[str]) -> list[bytes]:
    """Infobip-format callbacks of BULK_REPORTS_PER_POST reports each."""
    parts = urlsplit(api_url)
    path = f"/webhooks/{BULK_ACCOUNT}/{WEBHOOK_SECRET}"
    built = []
    for start in range(0, len(provider_ids), BULK_REPORTS_PER_POST):
        results = [{"messageId": pid, "to": f"26096{start + n:07d}",
                    "status": dict(zip(("groupName", "name"), _INFOBIP_GROUPS[(start + n) % len(_INFOBIP_GROUPS)]))}
                   for n, pid in enumerate(provider_ids[start:start + BULK_REPORTS_PER_POST])]
        body = json.dumps({"results": results}).encode()
        built.append(form_request(parts.hostname, parts.port, path, {}, body)
                     .replace(b"application/x-www-form-urlencoded", b"application/json"))
    return built


def bulk_accounts(sandbox_url: str) -> str:
    """HERALD_ACCOUNTS for the bulk pass: the default AT account plus an Infobip one."""
    return json.dumps({
        "africastalking": {"provider": "africastalking", "base_url": sandbox_url, "username": "sandbox",
                           "api_key": "sandbox-key", "webhook_secret": WEBHOOK_SECRET},
        BULK_ACCOUNT: {"provider": "infobip", "base_url": sandbox_url, "api_key": "sandbox-key",
                       "webhook_secret": WEBHOOK_SECRET}})


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


def post_and_time(stack: Stack, database_url: str, broadcast_id: str, count: int,
                  bulk: bool = False, url: str | None = None) -> tuple[float, float]:
    """Fire every report from the client processes at `url` (the API's by default); seconds until the
    last answer, and until the last row moved."""
    url = url or stack.api_url
    ids = [f"ATXid_bench_{n}" for n in _message_ids(database_url, broadcast_id)]
    requests_ = bulk_report_requests(url, ids) if bulk else report_requests(url, ids)
    lanes = CLIENT_PROCESSES * CONNECTIONS_PER_PROCESS
    batches = [requests_[lane::lanes] for lane in range(lanes)]
    ctx = multiprocessing.get_context("fork")
    start, errors = ctx.Event(), ctx.Queue()
    parts = urlsplit(url)
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


def _measure(stack: Stack, database_url: str, key: str, count: int, group_commit: bool,
             bulk: bool = False, ingest: bool = False) -> tuple[float, float]:
    """One pass: API (as the stack runs it), the ingest process if asked, and the control worker started
    fresh; (answered, applied) per second."""
    stack.env["HERALD_REPORT_GROUP_COMMIT"] = "1" if group_commit else "0"
    if bulk:
        stack.env["HERALD_ACCOUNTS"] = bulk_accounts(stack.sandbox_url)
    stack.kill("api")
    stack._start("api", api_argv(stack.api_port))
    wait_until(lambda: _answers(f"{stack.api_url}/healthz"), 30, 0.2, "the API")
    url = stack.api_url
    if ingest:
        port = free_port()
        stack._start("ingest", ingest_argv(port))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/healthz"), 30, 0.2, "the ingest process")
    stack.start_worker("worker-control", queues="fanout,webhooks,dead_letter,maintenance", concurrency=2)
    broadcast_id = prepare_sent_rows(stack, key, database_url, count, BULK_ACCOUNT if bulk else None)
    time.sleep(3)
    answered, elapsed = post_and_time(stack, database_url, broadcast_id, count, bulk, url)
    stack.kill("worker-control")
    stack.kill("ingest")
    stack.env.pop("HERALD_ACCOUNTS", None)
    label = ("Infobip callbacks of 100" if bulk else
             "AT, one per request, ingest process" if ingest else
             "AT, one per request, API, group commit" if group_commit else
             "AT, one per request, API, one commit each")
    print(f"delivery reports ({label}): {count:,} POSTed by {CLIENT_PROCESSES * CONNECTIONS_PER_PROCESS} keep-alive "
          f"connections, all answered in {answered:.2f}s, all applied in {elapsed:.2f}s = {count / elapsed:,.0f}/s")
    return count / answered, count / elapsed


def run_dlr(stack: Stack, database_url: str, key: str, count: int) -> dict:
    """Reports per second from first POST to last row applied.

    `dlr_per_s` is the ingestion rate with reports POSTed in bulk (Infobip's callbacks); the
    one-report-per-request figures (Africa's Talking's way) are beside it: through the ingest
    process (`dlr_single_per_s`, where the stack points gateways), through the gunicorn API with
    group commit, and through the API with a commit per report, the baseline of the same run.
    """
    _, baseline = _measure(stack, database_url, key, count, group_commit=False)
    _, via_api = _measure(stack, database_url, key, count, group_commit=True)
    answered, single = _measure(stack, database_url, key, count, group_commit=True, ingest=True)
    _, bulk = _measure(stack, database_url, key, count, group_commit=True, bulk=True)
    stack.env.pop("HERALD_REPORT_GROUP_COMMIT", None)
    return {"dlr_reports": count, "dlr_per_s": round(bulk, 1), "dlr_reports_per_post": BULK_REPORTS_PER_POST,
            "dlr_single_per_s": round(single, 1), "dlr_single_answered_per_s": round(answered, 1),
            "dlr_single_api_per_s": round(via_api, 1),
            "dlr_single_baseline_per_s": round(baseline, 1), "dlr_single_vs_baseline": round(single / baseline, 2)}


def _answers(url: str) -> bool:
    """Whether a URL answers 200 yet."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
