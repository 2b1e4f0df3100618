"""The Twilio and Infobip dialects: their refusals, and the ledger and dedup store they share with AT's."""
from __future__ import annotations

import base64
import json

# The key tests/sandbox/conftest.py starts the sandbox with.
API_KEY = "test-key"

TWILIO_PATH = "/2010-04-01/Accounts/ACsandbox/Messages.json"


def twilio_auth(token: str = API_KEY) -> dict:
    """Basic credentials of account ACsandbox."""
    return {"Authorization": "Basic " + base64.b64encode(f"ACsandbox:{token}".encode()).decode()}


def twilio_send(sandbox, form: dict, token: str = API_KEY, key: str | None = None):
    """POST a Twilio send."""
    headers = {**twilio_auth(token), **({"Idempotency-Key": key} if key else {})}
    return sandbox.http.post(sandbox.base_url + TWILIO_PATH, data=form, headers=headers, timeout=10)


def infobip_send(sandbox, body, api_key: str = API_KEY, key: str | None = None):
    """POST an Infobip send (a dict is sent as JSON, bytes as they are)."""
    headers = {"Authorization": f"App {api_key}", "Content-Type": "application/json",
               **({"Idempotency-Key": key} if key else {})}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sandbox.http.post(sandbox.base_url + "/sms/2/text/advanced", data=data, headers=headers, timeout=10)


TEXT = {"From": "+15005550006", "To": "+260961000001", "Body": "hi"}


def test_twilio_refuses_wrong_credentials_and_incomplete_forms(sandbox):
    wrong = twilio_send(sandbox, TEXT, token="nope")
    incomplete = twilio_send(sandbox, {"To": "+260961000001", "Body": "hi"})

    assert wrong.status_code == 401 and wrong.json()["code"] == 20003
    assert incomplete.status_code == 400
    assert sandbox.ledger()["accepted"] == 0


def test_infobip_refuses_wrong_keys_bad_bodies_and_mismatched_idempotency_keys(sandbox):
    one = {"messages": [{"destinations": [{"to": "260961000001"}], "text": "hi"}]}

    assert infobip_send(sandbox, one, api_key="nope").status_code == 401
    assert infobip_send(sandbox, b"{not json").status_code == 400
    assert infobip_send(sandbox, {"messages": [{"destinations": [], "text": "hi"}]}).status_code == 400
    assert infobip_send(sandbox, one, key="k1,k2").status_code == 400
    assert sandbox.ledger()["accepted"] == 0


def test_one_key_is_one_acceptance_whichever_dialect_carries_it(sandbox):
    at = sandbox.send("+260961000001", keys=["k1"])
    twilio = twilio_send(sandbox, TEXT, key="k1")
    infobip = infobip_send(sandbox, {"messages": [{"destinations": [{"to": "260961000001", "messageId": "m1"}],
                                                   "text": "hi"}]}, key="k1")

    assert at.status_code == 201 and twilio.status_code == 201 and infobip.status_code == 200
    at_id = at.json()["SMSMessageData"]["Recipients"][0]["messageId"]
    assert twilio.json()["sid"] == "SM" + at_id.removeprefix("ATXid_")
    ledger = sandbox.ledger()
    assert ledger["by_key"] == {"k1": 1} and ledger["replays"] == 2


def test_infobip_answers_each_personalised_message_with_its_own_status(sandbox):
    body = {"messages": [{"destinations": [{"to": "260961000001", "messageId": "a"}], "text": "Hello Ann"},
                         {"destinations": [{"to": "12", "messageId": "b"}], "text": "Hello Bob"}]}

    answer = infobip_send(sandbox, body, key="ka,kb").json()["messages"]

    assert [(m["messageId"], m["status"]["groupName"]) for m in answer] == [("a", "PENDING"), ("b", "REJECTED")]
    assert sandbox.ledger()["by_key"] == {"ka": 1}
