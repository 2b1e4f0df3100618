"""Delivery reports through the real webhook and the bulk applier: duplicates, reverse order, early arrival."""
from __future__ import annotations

from decimal import Decimal

import psycopg2

from herald_testing import recipients
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import DeliveryEvent, Message
from app.services.reports import delivery_reports
from app.services.state import claims, message_reports, outcomes
from providers.base import DeliveryReport

URL = "/webhooks/africastalking/test-secret"


def sent_message(app, client, service, count: int = 2) -> list[tuple[int, str]]:
    """Create a broadcast and mark its rows sent with gateway ids, as a worker would."""
    client.post("/v1/broadcasts", headers=service.headers,
                json={"channel": "sms", "body": "hello", "recipients": recipients(count)})
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_' || id, "
                                "sent_at = now() WHERE status = 'pending'"))
        db.session.commit()
        return [(m.id, m.provider_message_id) for m in db.session.scalars(select(Message).order_by(Message.id))]


def report(client, pid: str, status: str, reason: str | None = None, secret_url: str = URL):
    """POST one AT delivery report."""
    form = {"id": pid, "status": status, "phoneNumber": "+260961000000", "networkCode": "64502", "retryCount": "0"}
    if reason:
        form["failureReason"] = reason
    return client.post(secret_url, data=form)


def status_of(app, message_id: int) -> str:
    """A message's status now."""
    with app.app_context():
        return db.session.get(Message, message_id).status


def time_passes(app, seconds: int = 0) -> None:
    """Make every waiting report due for its next look, and `seconds` older."""
    with app.app_context():
        db.session.execute(text("UPDATE delivery_events SET next_check_at = now(), "
                                "received_at = received_at - make_interval(secs => :s)"), {"s": seconds})
        db.session.commit()


def apply_all(app) -> int:
    """Run the applier as the webhook task would."""
    with app.app_context():
        return delivery_reports.apply_pending_reports(1000).closed


def test_wrong_secret_is_403_and_changes_nothing(app, client, service):
    (mid, pid), _ = sent_message(app, client, service)
    response = report(client, pid, "Success", secret_url="/webhooks/africastalking/guess")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DeliveryEvent)) == 0
    apply_all(app)
    assert status_of(app, mid) == "sent"


def test_malformed_report_is_400(app, client, service):
    response = client.post(URL, data={"status": "Success"})
    assert response.status_code == 400 and response.json["error"]["details"]["field"] == "body"


def test_duplicate_reports_are_stored_once(app, client, service):
    (mid, pid), _ = sent_message(app, client, service)
    assert report(client, pid, "Success").json == {"stored": True}
    assert report(client, pid, "Success").json == {"stored": False}
    apply_all(app)
    assert status_of(app, mid) == "delivered"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DeliveryEvent)) == 1


def test_reverse_order_never_moves_a_row_backwards(app, client, service):
    (first, pid1), (second, pid2) = sent_message(app, client, service)
    report(client, pid1, "Success")
    report(client, pid1, "Buffered")
    report(client, pid1, "Sent")
    report(client, pid2, "Failed", "AbsentSubscriber")
    apply_all(app)
    report(client, pid2, "Success")
    report(client, pid2, "Failed", "AbsentSubscriber")
    apply_all(app)
    assert status_of(app, first) == "delivered"
    assert status_of(app, second) == "unreachable"


def test_report_before_sent_is_committed_waits_and_applies_later(app, client, service):
    client.post("/v1/broadcasts", headers=service.headers,
                json={"channel": "sms", "body": "hello", "recipients": recipients(1)})
    report(client, "ATXid_early", "Failed", "DeliveryFailure")
    assert apply_all(app) == 0
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_early'"))
        db.session.commit()
        mid = db.session.scalar(select(Message.id))
    # Not found on the first look, so it is looked at again after its backoff; let that time pass.
    assert apply_all(app) == 0
    time_passes(app)
    assert apply_all(app) == 1
    assert status_of(app, mid) == "failed"


def test_transactional_message_is_settled_by_its_report(app, client, service):
    created = client.post("/v1/messages", headers=service.headers, json={"to": "+260961234567", "body": "code 1"})
    mid = created.json["id"]
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_tx', "
                                "sent_at = now() WHERE id = :mid"), {"mid": mid})
        db.session.commit()
    report(client, "ATXid_tx", "Success")
    assert apply_all(app) == 1
    assert status_of(app, mid) == "delivered"


def test_unknown_ids_never_stand_in_front_of_new_reports_and_close_as_unmatched(app, client, service):
    (mid, pid), _ = sent_message(app, client, service)
    with app.app_context():
        stray = [DeliveryReport(f"ATXid_other_{n}", "delivered", "Success", None, "64502", {}) for n in range(30)]
        delivery_reports.store_reports("africastalking", stray)
        first = delivery_reports.apply_pending_reports(10)
        assert (first.taken, first.closed) == (10, 0)
    report(client, pid, "Success")
    with app.app_context():
        # Twenty never-checked strays remain, but a fresh report's turn comes in arrival order: the
        # twenty, then ours, ahead of the ten that were already looked at.
        assert delivery_reports.apply_pending_reports(21).moved == 1
    assert status_of(app, mid) == "delivered"
    time_passes(app, seconds=app.config["HERALD_REPORT_UNMATCHED_SECONDS"] + 1)
    apply_all(app)
    with app.app_context():
        outcomes = dict(db.session.execute(text("SELECT outcome, count(*) FROM delivery_events GROUP BY 1")).all())
        assert outcomes == {"unmatched": 30, "applied": 1}


def test_unknown_reports_back_off_and_only_due_ones_are_taken(app, client, service):
    with app.app_context():
        stray = [DeliveryReport(f"ATXid_other_{n}", "delivered", "Success", None, "64502", {}) for n in range(5)]
        delivery_reports.store_reports("africastalking", stray)
        assert delivery_reports.apply_pending_reports(100).taken == 5
        # Not due again for a second (the first backoff), so the next pass finds nothing to do.
        assert delivery_reports.apply_pending_reports(100).taken == 0
        waits = db.session.execute(text("SELECT checks, next_check_at - now() FROM delivery_events")).all()
        assert all(checks == 1 and 0 < wait.total_seconds() <= 1.0 for checks, wait in waits)


def test_report_stored_while_processing_is_applied_when_sent_is_recorded(app, client, service):
    created = client.post("/v1/broadcasts", headers=service.headers,
                          json={"channel": "sms", "body": "hello", "recipients": recipients(3)})
    with app.app_context():
        claim = claims.claim_batch(created.json["id"], 10, 60)
        ids = [row.id for row in claim.rows]
    # The gateway answered and its report raced the worker's write of the outcome.
    report(client, "ATXid_race_0", "Success")
    report(client, "ATXid_race_1", "Sent")
    report(client, "ATXid_race_1", "Failed", "AbsentSubscriber")
    assert apply_all(app) == 0
    with app.app_context():
        sent = [(mid, f"ATXid_race_{n}", Decimal("0.5"), "ZMW", 1) for n, mid in enumerate(ids)]
        outcomes.record_outcome(outcomes.BatchOutcome(claim.token, sent=sent))
    assert [status_of(app, mid) for mid in ids] == ["delivered", "unreachable", "sent"]


def test_sent_without_a_report_becomes_unknown_delivery_and_a_late_report_settles_it(app, client, service):
    (old, old_pid), (recent, _) = sent_message(app, client, service)
    timeout = app.config["HERALD_DELIVERY_REPORT_TIMEOUT_SECONDS"]
    with app.app_context():
        db.session.execute(text("UPDATE messages SET sent_at = now() - make_interval(secs => :s) WHERE id = :mid"),
                           {"s": timeout + 60, "mid": old})
        db.session.commit()
        assert delivery_reports.mark_unknown_deliveries(100) == 1
    assert (status_of(app, old), status_of(app, recent)) == ("unknown_delivery", "sent")
    broadcast_id = client.get("/v1/broadcasts", headers=service.headers).json["broadcasts"][0]["id"]
    counts = client.get(f"/v1/broadcasts/{broadcast_id}", headers=service.headers).json["counts"]
    assert (counts["unknown_delivery"], counts["sent"], counts["failed"]) == (1, 1, 0)
    csv_rows = client.get(f"/v1/broadcasts/{broadcast_id}/report.csv", headers=service.headers).text.splitlines()
    assert sorted(row.split(",")[3] for row in csv_rows[1:]) == ["sent", "unknown_delivery"]
    report(client, old_pid, "Success")
    assert apply_all(app) == 1
    assert status_of(app, old) == "delivered"


def test_a_send_committed_while_the_applier_moves_rows_leaves_its_report_open_for_another_look(
        app, client, service, database_url, monkeypatch):
    # The row is still `processing` (no gateway id) when its report comes in, as with an SMSC
    # receipt that follows its submit_sm_resp at once.
    client.post("/v1/broadcasts", headers=service.headers,
                json={"channel": "sms", "body": "hello", "recipients": recipients(1)})
    with app.app_context():
        mid = db.session.scalar(select(Message.id))
        db.session.execute(text("UPDATE messages SET status = 'processing' WHERE id = :id"), {"id": mid})
        db.session.commit()
    assert report(client, "ATXid_race", "Success").status_code == 200
    sender = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://", 1))
    real_move = message_reports.apply_delivery_outcomes

    def move_then_the_send_commits(reports):
        """The applier's move runs; right after it, another worker commits the row as sent."""
        moved = real_move(reports)
        with sender, sender.cursor() as cur:
            cur.execute("UPDATE messages SET status = 'sent', provider_message_id = 'ATXid_race', sent_at = now()"
                        " WHERE id = %s", (mid,))
        return moved

    monkeypatch.setattr(message_reports, "apply_delivery_outcomes", move_then_the_send_commits)
    try:
        apply_all(app)
    finally:
        sender.close()
    monkeypatch.undo()
    with app.app_context():
        event = db.session.scalars(select(DeliveryEvent)).one()
        assert (event.applied_at, status_of(app, mid)) == (None, "sent")
        # The sender's second look after its commit (or the next recheck) now settles it.
        assert message_reports.apply_waiting_reports([mid]) == 1
        db.session.commit()
    assert status_of(app, mid) == "delivered"


def test_a_report_under_another_account_with_a_colliding_id_is_not_known(app, client, service):
    (mid, pid), _ = sent_message(app, client, service)
    with app.app_context():
        delivery_reports.store_reports("zamtel_backup", [DeliveryReport(pid, "delivered", "DELIVRD")])
    assert apply_all(app) == 0
    assert status_of(app, mid) == "sent"
    time_passes(app, 10**6)
    assert apply_all(app) == 1
    with app.app_context():
        assert db.session.scalar(select(DeliveryEvent.outcome)) == "unmatched"
    assert status_of(app, mid) == "sent"
