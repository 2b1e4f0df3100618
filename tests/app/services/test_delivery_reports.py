"""Delivery reports through the real webhook and the bulk applier: duplicates, reverse order, early arrival."""
from __future__ import annotations

from herald_testing import recipients
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import DeliveryEvent, Message
from app.services import delivery_reports

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


def apply_all(app) -> int:
    """Run the applier as the webhook task would."""
    with app.app_context():
        return delivery_reports.apply_pending_reports(1000)


def test_wrong_secret_is_404_and_changes_nothing(app, client, service):
    (mid, pid), _ = sent_message(app, client, service)
    response = report(client, pid, "Success", secret_url="/webhooks/africastalking/guess")
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
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
    assert apply_all(app) == 1
    assert status_of(app, mid) == "failed"
