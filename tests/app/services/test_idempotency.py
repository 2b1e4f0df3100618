"""Idempotency-Key on POST /v1/messages and POST /v1/broadcasts: the same key and body replay the first
answer; the same key with another body is 422 idempotency_key_reused naming the key, and writes nothing."""
from __future__ import annotations

import pytest
from herald_testing import count_rows, post_json, recipients, sms

MESSAGE = {"to": "+260961000001", "body": "Your code is ((code))", "personalisation": {"code": "1234"}}
CASES = {
    "/v1/messages": (MESSAGE, {**MESSAGE, "personalisation": {"code": "9999"}}, (0, 1)),
    "/v1/broadcasts": (sms(recipients(3)), sms(recipients(4)), (1, 3)),
}


@pytest.mark.parametrize("path", sorted(CASES))
def test_same_key_same_body_replays_the_first_answer(client, service, app, path):
    payload, _, rows = CASES[path]
    first = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    again = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_rows(app) == rows


@pytest.mark.parametrize("path", sorted(CASES))
def test_same_key_with_a_different_body_is_refused_naming_the_key(client, service, app, path):
    payload, other, rows = CASES[path]
    first = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    refused = post_json(client, service, path, other, **{"Idempotency-Key": "otp-42"})
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"]["field"] == "Idempotency-Key" and error["details"]["key"] == "otp-42"
    assert "otp-42" in error["message"]
    assert first.json["id"] in error["details"].values()
    assert count_rows(app) == rows


def test_a_message_body_in_another_key_order_or_spacing_is_the_same_request(client, service):
    first = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": "k"})
    reordered = '{"personalisation": {"code": "1234"},  "body": "Your code is ((code))", "to": "+260961000001"}'
    again = post_json(client, service, "/v1/messages", reordered, **{"Idempotency-Key": "k"})
    assert again.status_code == 202 and again.json["id"] == first.json["id"]


def test_keys_belong_to_one_service(client, service, app):
    from herald_testing import make_service

    other = make_service(app, "programme-b")
    first = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": "k"})
    theirs = post_json(client, other, "/v1/messages", {**MESSAGE, "body": "Other"}, **{"Idempotency-Key": "k"})
    assert theirs.status_code == 202 and theirs.json["id"] != first.json["id"]


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "tab\there"])
def test_a_malformed_key_is_422(client, service, app, key):
    response = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": key})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "Idempotency-Key"
    assert count_rows(app) == (0, 0)
