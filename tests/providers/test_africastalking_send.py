"""Africa's Talking adapter against a scripted loopback gateway: wire format and outcome mapping."""
from __future__ import annotations

from decimal import Decimal

import pytest

from at_gateway import Reply, at_recipient, at_response, message
from providers.base import Accepted, OutboundMessage, PermanentError, TemporaryError, UnknownOutcome
from providers.parts import count_segments

NUMBER = "+260971234567"


# ---- wire format -----------------------------------------------------------------


def test_single_send_posts_the_form_fields_and_headers_at_expects(gateway, make_adapter):
    adapter = make_adapter()
    adapter.send(message(NUMBER, body="Hi & welcome + 100% ünïcode", key="idem-1"))

    (request,) = gateway.requests
    assert request.method == "POST"
    assert request.path == "/version1/messaging"
    assert request.form == {
        "username": ["herald"],
        "to": [NUMBER],
        "message": ["Hi & welcome + 100% ünïcode"],
        "from": ["HERALD"],
        "bulkSMSMode": ["1"],
    }
    assert request.headers["apikey"] == "test-key"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["idempotency-key"] == "idem-1"


def test_from_is_left_out_without_a_sender_id(gateway, make_adapter):
    make_adapter(sender_id=None).send(message())

    assert "from" not in gateway.requests[0].form


def test_a_message_sender_overrides_the_configured_sender_id(gateway, make_adapter):
    make_adapter().send(message(sender="OTHER"))

    assert gateway.requests[0].form["from"] == ["OTHER"]


def test_base_url_path_prefix_is_kept(gateway, make_adapter):
    make_adapter(base_url=gateway.url + "/at/").send(message())

    assert gateway.requests[0].path == "/at/version1/messaging"


def test_bulk_joins_numbers_and_idempotency_keys_in_the_same_order(gateway, make_adapter):
    numbers = ["+260971000001", "+260971000002", "+260971000003"]
    batch = [message(n, key=f"k{i}", message_id=i) for i, n in enumerate(numbers)]

    make_adapter().send_bulk(batch)

    (request,) = gateway.requests
    assert request.form["to"] == [",".join(numbers)]
    assert request.form["bulkSMSMode"] == ["1"]
    assert request.headers["idempotency-key"] == "k0,k1,k2"


def test_connections_are_kept_alive_between_sends(gateway, make_adapter):
    adapter = make_adapter()
    for i in range(5):
        adapter.send(message(message_id=i))

    assert len({r.client_port for r in gateway.requests}) == 1


def test_a_connection_the_server_closes_is_not_reused(gateway, make_adapter):
    adapter = make_adapter()
    gateway.reply = lambda request: Reply(201, at_response(at_recipient(NUMBER)), headers={"Connection": "close"})

    for i in range(3):
        assert isinstance(adapter.send(message(NUMBER, message_id=i)), Accepted)
    assert len({r.client_port for r in gateway.requests}) == 3


# ---- accepted and per-recipient outcomes -----------------------------------------------


def test_accepted_carries_id_cost_currency_and_parts(gateway, make_adapter):
    entry = at_recipient(NUMBER, messageId="ATXid_1", cost="ZMW 0.2500", messageParts=2)
    gateway.answer(Reply(201, at_response(entry)))

    result = make_adapter().send(message(NUMBER))

    assert result == Accepted(provider_message_id="ATXid_1", cost=Decimal("0.2500"), currency="ZMW", segments=2)


def test_missing_message_parts_falls_back_to_counting_segments(gateway, make_adapter):
    entry = at_recipient(NUMBER)
    del entry["messageParts"]
    gateway.answer(Reply(201, at_response(entry)))
    body = "x" * 200

    result = make_adapter().send(message(NUMBER, body=body))

    assert result.segments == count_segments(body) == 2


@pytest.mark.parametrize(
    ("cost", "amount", "currency"),
    [
        ("KES 0.8000", Decimal("0.8000"), "KES"),
        ("0", Decimal("0"), None),
        ("gibberish", None, None),
        (None, None, None),
    ],
)
def test_cost_formats(gateway, make_adapter, cost, amount, currency):
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, cost=cost))))

    result = make_adapter().send(message(NUMBER))

    assert (result.cost, result.currency) == (amount, currency)


@pytest.mark.parametrize("code", [100, 101, 102])
def test_accepting_status_codes(gateway, make_adapter, code):
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, code=code))))

    assert isinstance(make_adapter().send(message(NUMBER)), Accepted)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (401, "RiskHold"),
        (405, "InsufficientBalance"),
        (407, "CouldNotRoute"),
        (500, "InternalServerError"),
        (501, "GatewayError"),
    ],
)
def test_temporary_status_codes(gateway, make_adapter, code, name):
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, code=code, status=name, messageId="None", cost="0"))))

    with pytest.raises(TemporaryError) as caught:
        make_adapter().send(message(NUMBER))
    assert type(caught.value) is TemporaryError
    assert caught.value.code == name


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (402, "InvalidSenderId"),
        (403, "InvalidPhoneNumber"),
        (404, "UnsupportedNumberType"),
        (406, "UserInBlacklist"),
        (409, "DoNotDisturbRejection"),
        (502, "RejectedByGateway"),
        (499, "SomethingNew"),
    ],
)
def test_permanent_status_codes(gateway, make_adapter, code, name):
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, code=code, status=name, messageId="None", cost="0"))))

    with pytest.raises(PermanentError) as caught:
        make_adapter().send(message(NUMBER))
    assert caught.value.code == name


def test_accepted_without_a_message_id_is_an_unknown_outcome(gateway, make_adapter):
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, messageId="None"))))

    with pytest.raises(UnknownOutcome):
        make_adapter().send(message(NUMBER))


def test_request_refused_by_status_name_maps_like_a_recipient_code(gateway, make_adapter):
    gateway.answer(Reply(201, {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}))

    with pytest.raises(PermanentError) as caught:
        make_adapter().send(message(NUMBER))
    assert caught.value.code == "InvalidSenderId"


def test_empty_recipients_without_a_known_reason_is_an_unknown_outcome(gateway, make_adapter):
    gateway.answer(Reply(201, {"SMSMessageData": {"Message": "Sent to 0/1", "Recipients": []}}))

    with pytest.raises(UnknownOutcome) as caught:
        make_adapter().send(message(NUMBER))
    assert caught.value.code == "missing_from_response"


# ---- bulk mapping ----------------------------------------------------------------------


def test_bulk_maps_recipients_back_by_number(gateway, make_adapter):
    batch = [message(f"+26097100000{i}", message_id=i) for i in range(4)]
    gateway.answer(
        Reply(
            201,
            at_response(
                at_recipient("+260971000003", code=403, status="InvalidPhoneNumber", messageId="None", cost="0"),
                at_recipient("+260971000001", messageId="id-1"),
                at_recipient("+260971000000", messageId="id-0"),
                at_recipient("+260971000002", code=405, status="InsufficientBalance", messageId="None", cost="0"),
            ),
        )
    )

    results = make_adapter().send_bulk(batch)

    assert [type(r) for r in results] == [Accepted, Accepted, TemporaryError, PermanentError]
    assert results[0].provider_message_id == "id-0"
    assert results[1].provider_message_id == "id-1"
    assert results[2].code == "InsufficientBalance"
    assert results[3].code == "InvalidPhoneNumber"


def test_bulk_number_missing_from_the_response_is_an_unknown_outcome_value(gateway, make_adapter):
    batch = [message("+260971000001", message_id=1), message("+260971000002", message_id=2)]
    gateway.answer(Reply(201, at_response(at_recipient("+260971000002", messageId="id-2"))))

    first, second = make_adapter().send_bulk(batch)

    assert isinstance(first, UnknownOutcome)
    assert second.provider_message_id == "id-2"


def test_bulk_falls_back_to_order_when_at_rewrites_numbers(gateway, make_adapter):
    batch = [message("+260971000001", message_id=1), message("+260971000002", message_id=2)]
    rewritten = at_response(at_recipient("0971000001", messageId="a"), at_recipient("0971000002", messageId="b"))
    gateway.answer(Reply(201, rewritten))

    first, second = make_adapter().send_bulk(batch)

    assert (first.provider_message_id, second.provider_message_id) == ("a", "b")


def test_bulk_pairs_repeated_numbers_one_entry_each(gateway, make_adapter):
    batch = [message(NUMBER, message_id=1), message(NUMBER, message_id=2)]
    gateway.answer(Reply(201, at_response(at_recipient(NUMBER, messageId="a"), at_recipient(NUMBER, messageId="b"))))

    first, second = make_adapter().send_bulk(batch)

    assert (first.provider_message_id, second.provider_message_id) == ("a", "b")


def test_bulk_request_level_failure_is_raised(gateway, make_adapter):
    gateway.answer(Reply(503, b"busy"))

    with pytest.raises(TemporaryError) as caught:
        make_adapter().send_bulk([message("+260971000001", message_id=1), message("+260971000002", message_id=2)])
    assert caught.value.code == "gateway_http_503"


def test_bulk_refuses_mixed_bodies_without_sending(gateway, make_adapter):
    with pytest.raises(ValueError, match="one body"):
        make_adapter().send_bulk([message(body="a", message_id=1), message(body="b", message_id=2)])
    assert gateway.requests == []


def test_bulk_refuses_more_than_max_bulk_recipients(gateway, make_adapter):
    with pytest.raises(ValueError, match="max_bulk_recipients"):
        make_adapter(max_bulk_recipients=2).send_bulk([message(message_id=i) for i in range(3)])
    assert gateway.requests == []


def test_bulk_refuses_a_partial_set_of_idempotency_keys(gateway, make_adapter):
    keyless = OutboundMessage(message_id=2, to=NUMBER, body="Hello", idempotency_key="")
    batch = [message(key="k1", message_id=1), keyless]

    with pytest.raises(ValueError, match="idempotency key"):
        make_adapter().send_bulk(batch)
    assert gateway.requests == []


def test_bulk_of_nothing_sends_nothing(gateway, make_adapter):
    assert make_adapter().send_bulk([]) == []
    assert gateway.requests == []
