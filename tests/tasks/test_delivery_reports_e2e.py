"""Delivery reports end to end: POSTed to the real API (gunicorn), applied by a real worker.

Every report is sent twice, and each message's reports arrive in reverse order
(final status first, the intermediate ones after it): the final statuses must
still be right, and each distinct report stored once.
"""
from __future__ import annotations

import time

import requests
from herald_testing import wait_until
from pipeline_checks import start_broadcast, summary, wait_completed
from scripts.testbed import WEBHOOK_SECRET
from sqlalchemy import func, select

from app.extensions import db
from app.models import DeliveryEvent, Message
from app.services.reports import delivery_reports
from providers.base import DeliveryReport

COUNT = 90
# What each message's final report says, and the status Herald must settle on.
FINALS = [(("Success", None), "delivered"), (("Failed", "AbsentSubscriber"), "unreachable"),
          (("Failed", "DeliveryFailure"), "failed")]
INTERMEDIATE = [("Buffered", None), ("Submitted", None), ("Sent", None)]


def post_report(session: requests.Session, url: str, provider_id: str, status: str, reason: str | None) -> None:
    """One Africa's Talking delivery report, as the gateway posts it."""
    form = {"id": provider_id, "status": status, "phoneNumber": "+260961000000", "networkCode": "64502",
            "retryCount": "0", **({"failureReason": reason} if reason else {})}
    assert session.post(url, data=form, timeout=10).status_code == 200


def sent_messages(client, service, broadcast_id: str) -> list[dict]:
    """Every message of the broadcast (one page holds them all)."""
    page = client.get(f"/v1/broadcasts/{broadcast_id}/messages?limit=500", headers=service.headers).json
    return page["messages"]


def report_counts(app) -> tuple[int, int]:
    """(reports stored, reports not yet applied)."""
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(DeliveryEvent))
        waiting = db.session.scalar(select(func.count()).select_from(DeliveryEvent)
                                    .where(DeliveryEvent.applied_at.is_(None)))
        db.session.rollback()
    return stored, waiting


def test_duplicate_and_reversed_reports_leave_the_right_final_statuses(gateway, client, service, app):
    # The test posts the reports itself, so the sandbox must not.
    gateway.sandbox("POST", "/_sandbox/config", json={"dlr_url": ""})
    broadcast_id = start_broadcast(client, service, COUNT)
    wait_completed(client, service, broadcast_id, timeout=60)
    messages = sent_messages(client, service, broadcast_id)
    assert {m["status"] for m in messages} == {"sent"} and len(messages) == COUNT

    url = f"{gateway.api_url}/webhooks/africastalking/{WEBHOOK_SECRET}"
    expected = {}
    with requests.Session() as session:
        for _ in range(2):
            for index, message in reversed(list(enumerate(messages))):
                (final, reason), status = FINALS[index % len(FINALS)]
                expected[message["id"]] = status
                for report_status, report_reason in [(final, reason), *INTERMEDIATE]:
                    post_report(session, url, message["provider_message_id"], report_status, report_reason)
        # A stray contradicting report after the final one never changes a settled row.
        post_report(session, url, messages[0]["provider_message_id"], "Failed", "DeliveryFailure")

    # Four distinct reports per message (final + three intermediate), and the stray one.
    wait_until(lambda: report_counts(app) == (COUNT * 4 + 1, 0), 60, 0.3, "every report stored and applied")
    final = {m["id"]: m["status"] for m in sent_messages(client, service, broadcast_id)}
    assert final == expected


def sandbox_posts_reports(gateway, delay_ms: int = 100) -> None:
    """Have the sandbox post each accepted message's report to the API `delay_ms` after acceptance, as AT does."""
    gateway.sandbox("POST", "/_sandbox/config", json={
        "dlr_url": f"{gateway.api_url}/webhooks/africastalking/{WEBHOOK_SECRET}", "dlr_delay_ms": delay_ms})


def statuses_of(app, message_ids: list[int]) -> dict[int, str]:
    """Each message's status now."""
    with app.app_context():
        rows = db.session.execute(select(Message.id, Message.status).where(Message.id.in_(message_ids))).all()
        db.session.rollback()
    return dict(rows)


def test_transactional_messages_are_settled_by_their_reports(gateway, client, service, app):
    sandbox_posts_reports(gateway)
    # The sandbox's scripted outcomes by number: delivered, DeliveryFailure, AbsentSubscriber.
    expected_by_number = {"+260961234001": "delivered", "+260977888888": "failed", "+260955777777": "unreachable"}
    expected = {}
    for number, status in expected_by_number.items():
        created = client.post("/v1/messages", headers=service.headers, json={"to": number, "body": "Your code: 4821"})
        assert created.status_code == 202, created.json
        expected[created.json["id"]] = status
    wait_until(lambda: statuses_of(app, list(expected)) == expected, 30, 0.2, "transactional reports applied")


def test_unknown_ids_never_hold_back_a_broadcasts_reports(gateway, client, service, app):
    # Late enough that every report finds its message `sent`: the applier, not the send path, settles them.
    sandbox_posts_reports(gateway, delay_ms=2000)
    # More of another system's reports on the same account, already waiting, than the control worker's two
    # processes take in one batch each (5,000): taking the oldest first would never reach the broadcast's.
    with app.app_context():
        strays = [DeliveryReport(f"ATXid_not_ours_{n}", "delivered", "Success", None, "64502", {})
                  for n in range(2 * app.config["HERALD_REPORT_BATCH"] + 1)]
        assert delivery_reports.store_reports("africastalking", strays) == len(strays)
    started = time.monotonic()
    broadcast_id = start_broadcast(client, service, 200)
    wait_until(lambda: summary(client, service, broadcast_id)["counts"]["delivered"] == 200, 30, 0.3,
               "all 200 reports applied")
    assert time.monotonic() - started < 30
