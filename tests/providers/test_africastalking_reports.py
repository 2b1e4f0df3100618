"""Africa's Talking delivery-report callbacks mapped to Herald statuses."""
from __future__ import annotations

import pytest

from providers.africastalking import AfricasTalkingSMS

ADAPTER = AfricasTalkingSMS(base_url="http://127.0.0.1:8025", username="u", api_key="k")


def report(status: str, **extra: str) -> dict[str, str]:
    """A delivery-report form as AT posts it."""
    form = {"id": "ATXid_1", "status": status, "phoneNumber": "+260971234567", "networkCode": "64501"}
    form.update(extra)
    return form


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Success", "delivered"),
        ("Failed", "failed"),
        ("Rejected", "failed"),
        ("AbsentSubscriber", "unreachable"),
        ("Expired", "unreachable"),
        ("Sent", None),
        ("Submitted", None),
        ("Buffered", None),
    ],
)
def test_every_status(status, expected):
    parsed = ADAPTER.parse_delivery_report(report(status))

    assert parsed.status == expected
    assert parsed.provider_status == status
    assert parsed.provider_message_id == "ATXid_1"
    assert parsed.network_code == "64501"


@pytest.mark.parametrize(
    "reason", ["UserIsInactive", "UserDoesNotExist", "NotNetworkSubscriber", "UserAccountSuspended", "AbsentSubscriber"]
)
def test_failed_for_an_unreachable_subscriber_is_unreachable(reason):
    parsed = ADAPTER.parse_delivery_report(report("Failed", failureReason=reason))

    assert parsed.status == "unreachable"
    assert parsed.failure_reason == reason


@pytest.mark.parametrize("reason", ["DeliveryFailure", "UserInBlackList", "InsufficientCredit", "InvalidLinkId"])
def test_failed_for_other_reasons_is_failed(reason):
    assert ADAPTER.parse_delivery_report(report("Failed", failureReason=reason)).status == "failed"


def test_rejected_stays_failed_whatever_the_reason():
    assert ADAPTER.parse_delivery_report(report("Rejected", failureReason="UserDoesNotExist")).status == "failed"


def test_blank_failure_reason_and_network_code_become_none():
    parsed = ADAPTER.parse_delivery_report(report("Success", failureReason="", networkCode=""))

    assert (parsed.failure_reason, parsed.network_code) == (None, None)


def test_raw_form_is_kept_including_fields_herald_does_not_model():
    form = report("Failed", failureReason="DeliveryFailure", retryCount="2")

    parsed = ADAPTER.parse_delivery_report(form)

    assert parsed.raw == form
    assert parsed.raw is not form


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"status": "Success"}, "no 'id'"),
        ({"id": " ", "status": "Success"}, "no 'id'"),
        ({"id": "ATXid_1"}, "no 'status'"),
        ({"id": "ATXid_1", "status": "Delivered"}, "unknown Africa's Talking delivery status 'Delivered'"),
        ({"id": "ATXid_1", "status": "success"}, "unknown"),
    ],
)
def test_malformed_reports_raise_value_error(form, message):
    with pytest.raises(ValueError, match=message):
        ADAPTER.parse_delivery_report(form)
