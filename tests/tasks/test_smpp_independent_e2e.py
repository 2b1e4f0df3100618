"""Broadcasts over SMPP to an SMSC nobody here wrote, with real workers: throttling, system errors, a cut.

The SMSC is tests/peers/node_smsc.js on the npm `smpp` package. It reassembles concatenated parts
itself and counts each whole message it took, without deduplicating. Under throttling (every 20th
submit_sm) and system errors (every 50th), with 30% of the texts long, every message must arrive
whole, exactly once, and none may end as a partial message. When the SMSC drops every bind mid-run
and answers every bind ESME_RBINDFAIL for a second, the broadcast must finish with no operator:
nobody taken twice, at most a window per bind in doubt, nothing paused as gateway_rejected. The SMSC
sends a receipt for every part, and every one must find its message: each message ends delivered once
all its parts' receipts are in.
"""
from __future__ import annotations

import json
import os
from collections import Counter

import pytest
import requests
from herald_testing import make_service, recipients, wait_until
from pipeline_checks import Api, settled
from peer_smsc import running_node_smsc
from scripts.testbed import Stack
from sqlalchemy import text

from app.extensions import db

from app.services.sending import breaker

# The size is 5,000 (SMPP_NODE_COUNT=5000); the suite runs 2,500.
COUNT = int(os.environ.get("SMPP_NODE_COUNT", "2500"))
WINDOW = 10
LONG = "Planting advisory: plant maize after the first 30 mm of rain, and keep the seed dry. " * 2


@pytest.fixture(scope="module")
def peer():
    """The node SMSC for the module."""
    with running_node_smsc() as smsc:
        yield smsc


@pytest.fixture(scope="module")
def stack(peer, database_url, redis_url, tmp_path_factory):
    """API, workers and beat whose only account is bound to the node SMSC."""
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp("node-smsc")))
    account = {"provider": "smpp", **peer.settings(window_size=WINDOW, throttle_retry_after_s=0.05)}
    running.env.update(HERALD_ACCOUNTS=json.dumps({"smpp_node": account}), HERALD_SMS_PROVIDER="smpp_node")
    try:
        yield running.start_all(concurrency=2)
    finally:
        running.stop()


def test_every_message_arrives_whole_once_under_throttling_and_system_errors(peer, stack, app, clean):
    peer.reset()
    peer.configure(throttle_every=20, syserr_every=50)
    service = make_service(app, "node-smsc")
    audience = [{"to": r["to"], "personalisation": {"note": LONG if i % 10 < 3 else "rain on Monday"}}
                for i, r in enumerate(recipients(COUNT))]
    created = requests.post(f"{stack.api_url}/v1/broadcasts", headers=service.headers, timeout=60,
                            json={"channel": "sms", "body": "((note))", "recipients": audience})
    assert created.status_code == 202, created.text
    url = f"{stack.api_url}/v1/broadcasts/{created.json()['id']}"

    def done():
        summary = requests.get(url, headers=service.headers, timeout=10).json()
        counts = summary["counts"]
        return summary if summary["status"] == "completed" and not counts.get("pending") else None

    summary = wait_until(done, 240, 0.5, "the broadcast to complete")
    letters = requests.get(f"{stack.api_url}/v1/dead-letters?limit=1000", headers=service.headers,
                           timeout=10).json()["dead_letters"]
    ledger = peer.ledger()
    taken: dict[str, int] = {}
    for message in ledger["messages"]:
        taken[message["to"]] = taken.get(message["to"], 0) + 1
    texts = {m["to"]: m["text"] for m in ledger["messages"]}
    long_ones = sum(1 for m in ledger["messages"] if m["parts"] > 1)
    print(f"\nnode SMSC: {ledger['submits']} submit_sm, {ledger['throttled']} throttled, {ledger['syserr']} system "
          f"errors; {len(ledger['messages'])} whole messages ({long_ones} multi-part); dead letters "
          f"{sorted({(d['reason'], d['error_code']) for d in letters})}; counts {summary['counts']}")
    assert ledger["throttled"] > 0 and ledger["syserr"] > 0
    assert not [d for d in letters if d["error_code"] == "partial_message"]
    assert max(taken.values()) == 1
    assert set(taken) == {a["to"] for a in audience} and not letters
    assert all(texts[a["to"]] == a["personalisation"]["note"] for a in audience)
    assert long_ones == sum(1 for a in audience if a["personalisation"]["note"] == LONG)

    # Every part's receipt finds its message (by its part's id), none is unmatched, and each message
    # was delivered on all its parts' receipts. (A receipt that beat its `sent` write settled its
    # message at once, and is closed by a later recheck: open ones are not counted against it.)
    def reported():
        counts = requests.get(url, headers=service.headers, timeout=10).json()["counts"]
        return counts if counts.get("delivered") == COUNT else None

    wait_until(reported, 60, 0.5, "every message to be delivered")
    with app.app_context():
        events = db.session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE e.outcome = 'unmatched'), "
            "       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.provider_message_id = "
            "                                           e.provider_message_id) "
            "                          AND NOT EXISTS (SELECT 1 FROM message_parts p WHERE p.provider_message_id = "
            "                                           e.provider_message_id)) "
            "FROM delivery_events e")).one()
        parts = db.session.execute(text("SELECT count(*), count(DISTINCT message_id) FROM message_parts "
                                        "WHERE status = 'delivered'")).one()
    print(f"receipts: {events[0]} stored, {events[1]} unmatched, {events[2]} naming no message or part; "
          f"{parts[0]} parts of {parts[1]} messages delivered; SMSC receipts acked {ledger['receipts_acked']}")
    assert events[0] == ledger["receipts_acked"] and events[1] == events[2] == 0
    assert parts[1] == long_ones and parts[0] == ledger["submits"] - ledger["throttled"] - ledger["syserr"] - (
        COUNT - long_ones)

# A cut a third of the way into a few hundred messages, then a second of ESME_RBINDFAIL.
STORM_COUNT = 600
CUT_AT = 200
STORM_S = 1.0


def test_a_second_of_bindfail_after_a_cut_is_ridden_out_with_no_operator(peer, stack, app, clean):
    peer.reset()
    peer.configure(cut_after_n=CUT_AT, cut_bindfail_s=STORM_S)
    api = Api(stack, make_service(app, "node-bindfail"))
    broadcast_id = api.broadcast(STORM_COUNT)
    final = api.counts_when(broadcast_id, settled, 60, "the broadcast to complete")
    letters = api.get("/v1/dead-letters?limit=1000")["dead_letters"]
    unknown = {d["recipient"] for d in letters if d["reason"] == "outcome_unknown"}
    audit = api.get(f"/v1/broadcasts/{broadcast_id}/audit")["audit"]
    ledger = peer.ledger()
    taken = Counter(m["to"] for m in ledger["messages"])
    recovered_s = (ledger["first_submit_after_cut"] - ledger["cut_at"]) / 1000 - STORM_S
    with app.app_context():
        breaker_now = breaker.open_reason("smpp_node", max_age=0)
    print(f"\nnode SMSC cut at submit_sm {CUT_AT} of {STORM_COUNT}, then ESME_RBINDFAIL for {STORM_S:.0f} s: "
          f"{ledger['cut_binds']} binds dropped, {ledger['bind_failures']} binds refused, {ledger['binds']} binds in "
          f"all; first submit_sm {recovered_s:.2f} s after the storm; outcome_unknown {len(unknown)} (bound "
          f"{WINDOW} x {ledger['cut_binds']}); taken {sum(taken.values())} for {len(taken)} recipients, "
          f"{len(set(ledger['cut_taken']))} of them taken unanswered at the cut; counts {final}; "
          f"audit {[(a['actor'], a['action'], a['reason']) for a in audit]}")

    assert ledger["cuts"] == 1 and ledger["bind_failures"] >= 1 and ledger["first_submit_after_cut"]
    everyone = {r["to"] for r in recipients(STORM_COUNT)}
    # The ledger does not deduplicate: nobody twice, everybody not in doubt exactly once.
    assert max(taken.values()) == 1 and set(taken) <= everyone
    assert all(taken[to] == 1 for to in everyone - unknown)
    # Taken but never answered: in doubt, and never written again.
    assert set(ledger["cut_taken"]) <= unknown
    assert len(unknown) <= WINDOW * ledger["cut_binds"]
    assert {(d["reason"], d["error_code"]) for d in letters} <= {("outcome_unknown", "bind_lost")}
    assert final.get("failed", 0) == len(unknown) and sum(final.values()) == STORM_COUNT
    # No operator: every transition after the creation is the system's, none a gateway_rejected pause.
    assert all(a["actor"].startswith("system") for a in audit if a["action"] != "create")
    assert not [a for a in audit if "gateway_rejected" in json.dumps(a)]
    assert breaker_now is None
