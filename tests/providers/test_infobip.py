"""Infobip's wire details: personalised messages in one request, matching answers by our id, bulk reports."""
from __future__ import annotations

import json

from at_gateway import Reply
from dialects import INFOBIP, REJECTED_DESTINATION
from providers.base import Accepted, OutboundMessage, PermanentError, TemporaryError, UnknownOutcome
from providers.infobip import InfobipSMS
from tasks.batch_runner import plan_units

import pytest


def messages(count: int) -> list[OutboundMessage]:
    """`count` messages, each with its own body."""
    return [OutboundMessage(message_id=i, to=f"+26096100000{i}", body=f"Hello {i}", idempotency_key=f"b1:{i}")
            for i in range(count)]


@pytest.fixture
def infobip(gateway):
    """An Infobip adapter aimed at the scripted gateway."""
    adapter = InfobipSMS(base_url=gateway.url, api_key="key", sender="HERALD",
                         notify_url="https://herald.example/webhooks/ib/s", webhook_secret="s")
    yield adapter
    adapter.close()


def test_personalised_bodies_travel_in_one_request(gateway, infobip):
    gateway.reply = INFOBIP.accept

    results = infobip.send_bulk(messages(3))

    [request] = gateway.requests
    assert request.path == "/sms/2/text/advanced" and request.headers["authorization"] == "App key"
    sent = json.loads(request.raw_body)["messages"]
    assert [m["text"] for m in sent] == ["Hello 0", "Hello 1", "Hello 2"]
    assert sent[0]["destinations"] == [{"to": "260961000000", "messageId": "b1:0"}]
    assert sent[0]["notifyUrl"] == "https://herald.example/webhooks/ib/s"
    assert [r.provider_message_id for r in results] == ["b1:0", "b1:1", "b1:2"]
    assert request.headers["idempotency-key"] == "b1:0,b1:1,b1:2"


def test_each_answer_is_matched_by_our_id_whatever_its_order(gateway, infobip):
    def mixed(request):
        return Reply(200, {"messages": [
            {"to": "260961000001", "messageId": "b1:1", "status": REJECTED_DESTINATION},
            {"to": "260961000000", "messageId": "b1:0", "status": {"groupName": "PENDING", "name": "PENDING_ACCEPTED"}},
            {"to": "260961000002", "messageId": "b1:2",
             "status": {"groupName": "REJECTED", "name": "REJECTED_NOT_ENOUGH_CREDITS"}}]})
    gateway.reply = mixed

    first, second, third = infobip.send_bulk(messages(3))

    assert isinstance(first, Accepted) and isinstance(second, PermanentError)
    assert type(third) is TemporaryError


def test_a_message_missing_from_the_answer_is_unknown(gateway, infobip):
    gateway.answer(Reply(200, {"messages": []}))

    assert isinstance(infobip.send_bulk(messages(1))[0], UnknownOutcome)


def test_planning_groups_different_bodies_into_one_unit_for_infobip(infobip):
    assert [len(unit) for unit in plan_units(infobip, messages(5))] == [5]


def test_delivered_to_operator_is_not_final():
    report = InfobipSMS(base_url="http://127.0.0.1:9", api_key="k").parse_delivery_report(
        {"messageId": "m1", "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_OPERATOR"}})

    assert report.status is None and report.provider_status == "DELIVERED_TO_OPERATOR"
