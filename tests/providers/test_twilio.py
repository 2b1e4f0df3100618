"""Twilio's wire details the contract table does not pin: the signature, the request, the error table."""
from __future__ import annotations

import base64

import pytest

from at_gateway import Reply
from providers.base import GatewayRejected, PermanentError, RateLimited, WebhookRequest
from providers.twilio import ERROR_CODES, TwilioSMS, sign
from providers.base import OutboundMessage

MESSAGE = OutboundMessage(message_id=1, to="+260971234567", body="Rain expected", idempotency_key="b1:1")


def test_signature_matches_twilios_published_example():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}

    assert sign(b"12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.fixture
def twilio(gateway):
    """A Twilio adapter aimed at the scripted gateway."""
    adapter = TwilioSMS(base_url=gateway.url, account_sid="AC1", auth_token="tok", messaging_service_sid="MG1",
                        status_callback="https://herald.example/webhooks/tw")
    yield adapter
    adapter.close()


def test_the_request_is_form_encoded_with_basic_auth_and_the_callback(gateway, twilio):
    gateway.answer(Reply(201, {"sid": "SM1", "status": "queued", "num_segments": "2"}))

    accepted = twilio.send(MESSAGE)

    request = gateway.requests[0]
    assert (request.method, request.path) == ("POST", "/2010-04-01/Accounts/AC1/Messages.json")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC1:tok").decode()
    assert request.form == {"To": ["+260971234567"], "MessagingServiceSid": ["MG1"], "Body": ["Rain expected"],
                            "StatusCallback": ["https://herald.example/webhooks/tw"]}
    assert (accepted.provider_message_id, accepted.segments) == ("SM1", 2)


@pytest.mark.parametrize(("status", "code", "error"), [
    (400, 21610, PermanentError), (400, 21614, PermanentError), (401, 20003, GatewayRejected),
    (400, 21606, GatewayRejected), (429, 20429, RateLimited), (400, 99999, PermanentError),
])
def test_error_codes_map_through_the_table(gateway, twilio, status, code, error):
    gateway.answer(Reply(status, {"code": code, "message": "m", "status": status}))

    with pytest.raises(error) as caught:
        twilio.send(MESSAGE)
    assert caught.value.code == f"twilio_{code}"
    assert code not in ERROR_CODES or ERROR_CODES[code] is error


def test_an_undelivered_report_for_an_unreachable_handset_is_unreachable(twilio):
    report = twilio.parse_delivery_report({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"})

    assert (report.status, report.failure_reason) == ("unreachable", "30003")


def test_a_callback_signed_for_another_url_is_refused(twilio):
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signed_elsewhere = sign(b"tok", "https://evil.example/webhooks/tw", form)

    assert not twilio.verify(WebhookRequest("POST", "https://herald.example/webhooks/tw",
                                            {"x-twilio-signature": signed_elsewhere}, form, b""))
