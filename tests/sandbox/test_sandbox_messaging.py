"""POST /version1/messaging against a real sandbox process: AT's shape and per-recipient rules."""
from __future__ import annotations

import re

import pytest

MESSAGE_ID = re.compile(r"ATXid_[0-9a-f]{32}")


def recipients_of(response) -> list[dict]:
    """The Recipients list of an AT answer."""
    return response.json()["SMSMessageData"]["Recipients"]


def test_success_has_at_shape(sandbox):
    response = sandbox.send("+260971234567")
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"SMSMessageData"}
    assert data["SMSMessageData"]["Message"] == "Sent to 1/1 Total Cost: ZMW 0.2400"
    [entry] = data["SMSMessageData"]["Recipients"]
    assert entry == {
        "statusCode": 101,
        "number": "+260971234567",
        "status": "Success",
        "cost": "ZMW 0.2400",
        "messageId": entry["messageId"],
        "messageParts": 1,
    }
    assert MESSAGE_ID.fullmatch(entry["messageId"])


def test_entries_follow_request_order_and_spaces_are_allowed(sandbox):
    response = sandbox.send("+260961234567 , +260951234567,+260971234567")
    assert [e["number"] for e in recipients_of(response)] == ["+260961234567", "+260951234567", "+260971234567"]
    assert response.json()["SMSMessageData"]["Message"] == "Sent to 3/3 Total Cost: ZMW 0.7100"
    ids = {e["messageId"] for e in recipients_of(response)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("api_key", "username"),
    [("wrong", None), (None, "someone-else"), ("", None)],
)
def test_bad_credentials_get_401(sandbox, api_key, username):
    api_key = sandbox.api_key if api_key is None else api_key
    username = sandbox.username if username is None else username
    response = sandbox.send("+260971234567", api_key=api_key, username=username)
    assert response.status_code == 401
    assert response.text == "The supplied authentication is invalid"
    assert sandbox.ledger()["accepted"] == 0


def test_missing_header_gets_401(sandbox):
    response = sandbox.http.post(
        f"{sandbox.base_url}/version1/messaging",
        data={"username": sandbox.username, "to": "+260971234567", "message": "hi"},
        timeout=10,
    )
    assert response.status_code == 401


@pytest.mark.parametrize("form", [{"to": "", "message": "hi"}, {"to": "+260971234567", "message": ""}])
def test_missing_fields_get_400(sandbox, form):
    response = sandbox.send(**form)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")


def test_invalid_number_is_403_entry(sandbox):
    response = sandbox.send("0971234567,+260971234567")
    first, second = recipients_of(response)
    assert first == {
        "statusCode": 403,
        "number": "0971234567",
        "status": "InvalidPhoneNumber",
        "cost": "0",
        "messageId": "None",
        "messageParts": 0,
    }
    assert second["status"] == "Success"
    assert response.json()["SMSMessageData"]["Message"] == "Sent to 1/2 Total Cost: ZMW 0.2400"
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["permanent_failures"]) == (1, 1)


def test_blacklisted_number_is_406_entry(sandbox):
    [entry] = recipients_of(sandbox.send("+260971999999"))
    assert (entry["statusCode"], entry["status"], entry["cost"], entry["messageId"]) == (
        406,
        "UserInBlacklist",
        "0",
        "None",
    )
    assert sandbox.ledger()["permanent_failures"] == 1


@pytest.mark.parametrize(
    ("number", "message", "parts", "cost"),
    [
        ("+260961234567", "x" * 160, 1, "ZMW 0.2500"),  # MTN
        ("+260761234567", "x" * 161, 2, "ZMW 0.5000"),  # MTN
        ("+260971234567", "x" * 307, 3, "ZMW 0.7200"),  # Airtel
        ("+260771234567", "ş" * 70, 1, "ZMW 0.2400"),  # Airtel, UCS-2
        ("+260951234567", "ş" * 71, 2, "ZMW 0.4400"),  # Zamtel, UCS-2
        ("+260751234567", "hi", 1, "ZMW 0.2200"),  # Zamtel
        ("+254711234567", "x" * 200, 2, "ZMW 0.6000"),  # Other
    ],
)
def test_parts_and_cost_per_carrier(sandbox, number, message, parts, cost):
    [entry] = recipients_of(sandbox.send(number, message=message))
    assert (entry["messageParts"], entry["cost"]) == (parts, cost)


def test_form_extras_are_accepted(sandbox):
    response = sandbox.send("+260971234567", **{"from": "HERALD", "bulkSMSMode": "1", "enqueue": "1"})
    assert response.status_code == 201


def test_unknown_paths_are_json_404(sandbox):
    response = sandbox.http.get(f"{sandbox.base_url}/version1/nothing", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert sandbox.http.get(f"{sandbox.base_url}/version1/messaging", timeout=10).status_code == 404


def test_connections_are_kept_alive(sandbox):
    response = sandbox.send("+260971234567")
    assert response.headers.get("Connection", "keep-alive").lower() == "keep-alive"
