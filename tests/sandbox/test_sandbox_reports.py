"""Delivery reports posted back to a local receiver, as AT posts them."""
from __future__ import annotations

import time


def message_ids(response) -> dict[str, str]:
    """number -> messageId from an AT answer."""
    return {e["number"]: e["messageId"] for e in response.json()["SMSMessageData"]["Recipients"]}


def test_reports_carry_outcome_by_number(sandbox, receiver, wait_until):
    sandbox.configure(dlr_url=receiver.url, dlr_delay_ms=50).raise_for_status()
    numbers = ["+260971234567", "+260961888888", "+260951777777", "+260971666666"]
    ids = message_ids(sandbox.send(numbers))
    reports = {r["phoneNumber"]: r for r in receiver.wait_for(3)}
    assert reports["+260971234567"] == {
        "id": ids["+260971234567"],
        "status": "Success",
        "phoneNumber": "+260971234567",
        "networkCode": "64501",
        "retryCount": "0",
    }
    assert reports["+260961888888"] == {
        "id": ids["+260961888888"],
        "status": "Failed",
        "phoneNumber": "+260961888888",
        "networkCode": "64502",
        "retryCount": "0",
        "failureReason": "DeliveryFailure",
    }
    assert reports["+260951777777"]["status"] == "AbsentSubscriber"
    assert reports["+260951777777"]["networkCode"] == "64503"
    assert "failureReason" not in reports["+260951777777"]
    # The lost report never comes, however long one waits.
    time.sleep(0.5)
    assert "+260971666666" not in {r["phoneNumber"] for r in receiver.reports}
    ledger = wait_until(lambda: (lg := sandbox.ledger())["dlr_sent"] == 3 and lg, 5.0)
    assert (ledger["dlr_sent"], ledger["dlr_failed"], ledger["dlr_pending"]) == (3, 0, 0)


def test_reports_wait_for_the_delay(sandbox, receiver):
    sandbox.configure(dlr_url=receiver.url, dlr_delay_ms=1000).raise_for_status()
    started = time.monotonic()
    sandbox.send("+260971234567")
    assert sandbox.ledger()["dlr_pending"] == 1
    [report] = receiver.wait_for(1, timeout_s=5)
    assert time.monotonic() - started >= 0.95
    assert report["status"] == "Success"


def test_no_reports_without_a_url(sandbox, receiver):
    sandbox.send("+260971234567")
    time.sleep(0.3)
    assert receiver.reports == []
    assert sandbox.ledger()["dlr_pending"] == 0


def test_replay_does_not_report_again(sandbox, receiver):
    sandbox.configure(dlr_url=receiver.url, dlr_delay_ms=20).raise_for_status()
    sandbox.send("+260971234567", keys="once")
    sandbox.send("+260971234567", keys="once")
    receiver.wait_for(1)
    time.sleep(0.4)
    assert len(receiver.reports) == 1


def test_failed_posts_are_retried(sandbox, receiver, wait_until):
    receiver.failures_to_give = 2
    sandbox.configure(dlr_url=receiver.url, dlr_delay_ms=10).raise_for_status()
    sandbox.send("+260971234567")
    assert len(receiver.wait_for(1, timeout_s=5)) == 1
    ledger = wait_until(lambda: (lg := sandbox.ledger())["dlr_sent"] == 1 and lg, 5.0)
    assert (ledger["dlr_sent"], ledger["dlr_failed"]) == (1, 0)


def test_unreachable_receiver_is_dropped_after_retries(sandbox, receiver, wait_until):
    # A port that was just free: connection refused on every attempt.
    url = receiver.url
    receiver.shutdown()
    receiver.server_close()
    sandbox.configure(dlr_url=url, dlr_delay_ms=10).raise_for_status()
    sandbox.send("+260971234567")
    ledger = wait_until(lambda: (lg := sandbox.ledger())["dlr_failed"] == 1 and lg, 10.0, 0.2)
    assert ledger and (ledger["dlr_sent"], ledger["dlr_failed"], ledger["dlr_pending"]) == (0, 1, 0)


def test_reset_drops_pending_reports(sandbox, receiver):
    sandbox.configure(dlr_url=receiver.url, dlr_delay_ms=1000).raise_for_status()
    sandbox.send("+260971234567")
    sandbox.reset()
    time.sleep(1.3)
    assert receiver.reports == []
    assert sandbox.ledger()["dlr_pending"] == 0
