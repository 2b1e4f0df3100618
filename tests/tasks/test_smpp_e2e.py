"""A broadcast through an SMPP account whose binds the SMSC cuts mid-way, with real workers.

The sandbox's ledger does not deduplicate and SMPP has no idempotency key, so a message sent
twice would show there. Only the submit_sm outstanding on a bind when it was cut may be in
doubt: at most a window per bind, held as outcome unknown, never resent.
"""
from __future__ import annotations

import json
import os
import random
import time

import psutil
import pytest
import requests
from herald_testing import make_service, recipients, wait_until
from pipeline_checks import Api, settled
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message
from scripts.testbed import Stack

COUNT = 3000
WINDOW = 10
# The bulk worker's prefork children: one bind each.
PROCESSES = 2
# The SMSC cuts every bind on this submit_sm, then refuses binds for CUT_REFUSE_S.
CUT_AFTER = 1000
CUT_REFUSE_S = 1.0


@pytest.fixture(scope="module")
def stack(database_url, redis_url, tmp_path_factory):
    """API, workers and sandbox whose only account is `smpp_acct`, bound to the sandbox SMSC."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("smpp")), SANDBOX_DLR_DELAY_MS=100)
    account = running.smpp_account(window_size=WINDOW, reconnect_min_s=0.2, reconnect_max_s=2.0)
    running.env.update(HERALD_ACCOUNTS=json.dumps({"smpp_acct": account}), HERALD_SMS_PROVIDER="smpp_acct")
    try:
        yield running.start_all(concurrency=PROCESSES)
    finally:
        running.stop()


def test_binds_cut_mid_broadcast_rebind_and_every_recipient_is_taken_at_most_once(gateway, stack, app):
    api = Api(stack, make_service(app, "smpp-e2e"))
    # Answers held back 20 ms: when the binds are cut, a window's worth is taken but unanswered.
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 20, "smpp_cut_after_n": CUT_AFTER,
                                                       "smpp_cut_refuse_s": CUT_REFUSE_S})
    broadcast_id = api.broadcast(COUNT)
    # Read while the port still refuses binds: the binds opened before the cut.
    at_cut = wait_until(lambda: (lambda led: led if led["smpp"]["cuts"] else None)(gateway.ledger()), 30, 0.05,
                        "the SMSC to cut the binds")
    api.counts_when(broadcast_id, settled, 40, "the broadcast to complete")
    letters = api.get("/v1/dead-letters?limit=1000")["dead_letters"]
    unknown = {d["recipient"] for d in letters if d["reason"] == "outcome_unknown"}
    final = api.counts_when(broadcast_id, lambda s: s["counts"].get("delivered") == COUNT - len(unknown), 30,
                            "every message taken to be delivered by its receipt")
    ledger = gateway.ledger()
    smpp = ledger["smpp"]
    reconnects = smpp["binds"] - at_cut["smpp"]["binds"]
    with app.app_context():
        attempts = db.session.scalar(select(func.sum(Message.attempts)).where(Message.broadcast_id == broadcast_id))
    audit = [(r["actor"], r["action"]) for r in api.get(f"/v1/broadcasts/{broadcast_id}/audit")["audit"]]
    print(f"\nSMPP bind cut after {CUT_AFTER} submit_sm: outcome_unknown {len(unknown)} (SMSC read "
          f"{smpp['cut_unanswered']} unanswered; bound {WINDOW} x {PROCESSES}), binds {smpp['binds']} "
          f"({reconnects} after the cut: rebinds and the breaker's probe), submits {smpp['submits']}, accepted {ledger['accepted']}, "
          f"receipts {smpp['receipts_acked']} acked, attempts {attempts}, counts {final}, audit {audit}")

    assert smpp["cuts"] == 1 and reconnects >= 1
    assert {(d["reason"], d["error_code"]) for d in letters} == {("outcome_unknown", "bind_lost")}
    # In doubt: what was written and unanswered when the binds went, at least what the SMSC had read.
    assert smpp["cut_unanswered"] <= len(unknown) <= WINDOW * PROCESSES
    everyone = {r["to"] for r in recipients(COUNT)}
    taken = ledger["by_recipient"]
    assert ledger["duplicate_recipients"] == [] and set(taken) <= everyone
    assert all(taken.get(to) == 1 for to in everyone - unknown)
    assert all(taken.get(to, 0) <= 1 for to in unknown)
    assert final["delivered"] == COUNT - len(unknown) and final.get("failed", 0) == len(unknown)
    # The rebinds spent no attempt: each is a message taken, or a call cut before the SMSC read it.
    assert attempts == ledger["accepted"] + len(unknown - set(taken))


RATE = 400
# The full size: SMPP_PAUSE_COUNT=20000 SMPP_RATE_WINDOW_S=10 (the suite runs a short version).
PAUSE_COUNT = int(os.environ.get("SMPP_PAUSE_COUNT", COUNT))
RATE_WINDOW_S = float(os.environ.get("SMPP_RATE_WINDOW_S", 4.0))
# The kills at the size: SMPP_KILL_COUNT=20000.
KILL_COUNT = int(os.environ.get("SMPP_KILL_COUNT", COUNT))


def test_a_paced_smpp_broadcast_keeps_its_rate_and_stops_on_pause(gateway, stack, app):
    api = Api(stack, make_service(app, "smpp-pause"))
    response = requests.post(f"{api.url}/v1/broadcasts", headers=api.headers, timeout=60, json={
        "channel": "sms", "body": "Planting advisory: rains from Monday", "recipients": recipients(PAUSE_COUNT),
        "rate_limit_per_second": RATE})
    assert response.status_code == 202, response.text
    broadcast_id = response.json()["id"]
    wait_until(lambda: gateway.ledger()["smpp"]["submits"] >= 200, 30, 0.05, "sending under way")
    first = gateway.ledger()["smpp"]["submits"]
    started = time.monotonic()
    time.sleep(RATE_WINDOW_S)
    rate = (gateway.ledger()["smpp"]["submits"] - first) / (time.monotonic() - started)
    paused = requests.post(f"{api.url}/v1/broadcasts/{broadcast_id}/pause", headers=api.headers, timeout=30)
    assert paused.status_code == 200, paused.text
    at_pause = gateway.ledger()["smpp"]["submits"]
    time.sleep(2.0)
    after = gateway.ledger()["smpp"]["submits"] - at_pause
    print(f"\nSMPP at {RATE}/s, {PAUSE_COUNT} recipients: {rate:.1f} submit_sm/s at the SMSC over {RATE_WINDOW_S:.0f} s; "
          f"after pause returned: {after} submit_sm")
    # The journal's unit is one window: each is checked against the pause before it is written, so at
    # most the windows whose check passed just before the pause (one per process) follow it.
    assert after <= WINDOW * PROCESSES
    assert abs(rate - RATE) <= RATE * 0.05
    requests.post(f"{api.url}/v1/broadcasts/{broadcast_id}/cancel", headers=api.headers, timeout=30)


def test_ten_sigkills_of_smpp_sending_processes_leave_at_most_a_window_each_in_doubt(gateway, stack, app):
    api = Api(stack, make_service(app, "smpp-kills"))
    gateway.sandbox("POST", "/_sandbox/config", json={"latency_ms": 20, "honour_idempotency": False})
    broadcast_id = api.broadcast(KILL_COUNT)
    chooser = random.Random(11)
    for kill in range(10):
        wait_until(lambda: gateway.ledger()["smpp"]["submits"] >= (kill + 1) * KILL_COUNT // 13, 120, 0.01,
                   "sending under way")
        chooser.choice(psutil.Process(stack.procs["worker"].pid).children()).kill()
    api.counts_when(broadcast_id, settled, 180, "the broadcast to complete")
    letters = api.get("/v1/dead-letters?limit=1000")["dead_letters"]
    unknown = {d["recipient"] for d in letters if d["reason"] == "outcome_unknown"}
    ledger = gateway.ledger()
    print(f"\nSMPP, ten SIGKILLs of a sending process: outcome_unknown {len(unknown)} "
          f"(bound: 10 kills x window {WINDOW}), accepted {ledger['accepted']}")
    assert ledger["duplicate_recipients"] == []
    # The journal's unit is one window and a process sends from one lane: a kill leaves its window.
    assert len(unknown) <= 10 * WINDOW
    everyone = {r["to"] for r in recipients(KILL_COUNT)}
    assert all(ledger["by_recipient"].get(to) == 1 for to in everyone - unknown)
