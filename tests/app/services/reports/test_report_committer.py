"""Group commit of delivery reports against the real PostgreSQL: many requests, one INSERT, nothing lost."""
from __future__ import annotations

import threading

from herald_testing import wait_until

from sqlalchemy import text

from app.extensions import db
from app.services.reports.report_committer import ReportCommitter, StoreFailed
from providers.base import DeliveryReport

URL = "/webhooks/africastalking/test-secret"


def at_report(pid: str, status: str = "Success") -> DeliveryReport:
    """A final AT report for a provider id."""
    return DeliveryReport(pid, "delivered", status, None, "64502", {"id": pid})


def stored_ids(app) -> list[str]:
    """Provider ids in delivery_events."""
    with app.app_context():
        ids = sorted(db.session.execute(text("SELECT provider_message_id FROM delivery_events")).scalars())
        db.session.rollback()
    return ids


def test_concurrent_reports_are_each_committed_before_their_answer(app, clean):
    wakes = []
    committer = ReportCommitter(app, lambda: wakes.append(1))
    answers: dict[str, bool] = {}

    def post(pid: str) -> None:
        answers[pid] = committer.store("africastalking", at_report(pid))
        # Answered only after the commit: the row is visible to another connection right now.
        assert pid in stored_ids(app)

    threads = [threading.Thread(target=post, args=(f"ATXid_{n:02d}",)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == {f"ATXid_{n:02d}": True for n in range(40)}
    assert stored_ids(app) == sorted(answers)
    assert committer.store("africastalking", at_report("ATXid_00")) is False
    # The applier is woken by the waker thread, after the answers: bursts of commits share wake-ups.
    wait_until(lambda: wakes, 5, 0.01, "the applier to be woken")
    assert 1 <= len(wakes) <= 40


def test_a_submitted_report_calls_back_once_it_is_committed(app, clean):
    committer = ReportCommitter(app, lambda: None)
    outcomes: list = []
    done = threading.Event()

    def heard(created, error):
        outcomes.append((created, error, "ATXid_cb" in stored_ids(app)))
        done.set()
    committer.submit("africastalking", at_report("ATXid_cb"), heard)
    assert done.wait(10) and outcomes == [(True, None, True)]


def test_an_unstorable_report_is_refused_before_the_committer_and_the_next_is_stored(app, client):
    # PostgreSQL refuses NUL in text; the view refuses it first (400), so no batch is poisoned.
    bad = client.post(URL, data={"id": "ATXid_\x00", "status": "Success", "phoneNumber": "+260961000000"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "nul_character"
    good = client.post(URL, data={"id": "ATXid_after", "status": "Success", "phoneNumber": "+260961000000"})
    assert good.status_code == 200 and good.json == {"stored": True}
    assert stored_ids(app) == ["ATXid_after"]


def test_one_commit_per_report_when_group_commit_is_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HERALD_REPORT_GROUP_COMMIT", False)
    assert client.post(URL, data={"id": "ATXid_plain", "status": "Success"}).json == {"stored": True}
    assert client.post(URL, data={"id": "ATXid_plain", "status": "Success"}).json == {"stored": False}
    assert stored_ids(app) == ["ATXid_plain"]


def test_store_failed_is_raised_to_the_caller(app, clean):
    committer = ReportCommitter(app, lambda: None)
    try:
        committer.store("africastalking", at_report("ATXid_\x00"))
    except StoreFailed:
        pass
    else:
        raise AssertionError("a report that was not committed must not look stored")
    # A real failed commit of a batch does not stop the flusher: the next report is committed.
    assert committer.store("africastalking", at_report("ATXid_next")) is True
