"""A NUL character (which PostgreSQL text and jsonb cannot hold) anywhere a request is stored: 400 naming
the field, nothing written, for JSON broadcasts, CSV uploads, transactional messages and webhooks."""
from __future__ import annotations

import io

import pytest
from herald_testing import count_rows, post_json, recipients, sms

from app.services.content.storable_text import flaw_path

GOOD = "+260961000001"


def assert_refused(response, field: str) -> None:
    """A 400 nul_character error naming the field."""
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "nul_character"
    assert response.json["error"]["details"]["field"] == field


@pytest.mark.parametrize("payload,field", [
    (sms([{"to": GOOD}], body="Rain\x00 expected"), "body"),
    ({"channel": "sms", "template": "Rain\x00", "recipients": [{"to": GOOD}]}, "template"),
    (sms(recipients(2) + [{"to": "+26096100\x000099"}]), "recipients[2].to"),
    (sms(recipients(1) + [{"to": "junk\x00"}]), "recipients[1].to"),
    (sms([{"to": GOOD, "personalisation": {"name": "Ada\x00"}}], body="Hi ((name))"),
     "recipients[0].personalisation.name"),
    (sms([{"to": GOOD, "personalisation": {"na\x00me": "Ada"}}]), "recipients[0].personalisation"),
    (sms([{"to": GOOD, "personalisation": {"farm": {"plots": ["a", "b\x00"]}}}]),
     "recipients[0].personalisation.farm.plots[1]"),
])
def test_json_broadcast_with_a_nul_is_400_and_writes_nothing(client, service, app, payload, field):
    assert_refused(post_json(client, service, "/v1/broadcasts", payload), field)
    assert count_rows(app) == (0, 0)


def test_a_literal_backslash_u0000_text_is_not_a_nul(client, service, app):
    payload = sms([{"to": GOOD, "personalisation": {"note": "\\u0000 is how JSON writes NUL"}}])
    assert post_json(client, service, "/v1/broadcasts", payload).status_code == 202
    assert count_rows(app) == (1, 1)


@pytest.mark.parametrize("csv_text,form_body,field,line", [
    ("to,name\n+260961000001,Ada\n+260961000002,Gr\x00ace\n", "Hi ((name))", "file", 3),
    ("to,na\x00me\n+260961000001,Ada\n", "Hi", "file", 1),
    ("to\n+260961000001\n", "Rain\x00", "body", None),
])
def test_csv_broadcast_with_a_nul_is_400_naming_the_line(client, service, app, csv_text, form_body, field, line):
    response = client.post("/v1/broadcasts", headers=service.headers, content_type="multipart/form-data", data={
        "channel": "sms", "body": form_body, "file": (io.BytesIO(csv_text.encode()), "list.csv")})
    assert response.status_code == 400, response.json
    assert response.json["error"]["details"]["field"] == field
    assert response.json["error"]["details"].get("line") == line
    assert count_rows(app) == (0, 0)


@pytest.mark.parametrize("payload,field", [
    ({"to": GOOD, "body": "Code\x00 1234"}, "body"),
    ({"to": GOOD + "\x00", "body": "Code 1234"}, "to"),
    ({"to": GOOD, "body": "Code ((code))", "personalisation": {"code": "12\x0034"}}, "personalisation.code"),
    ({"to": GOOD, "body": "Code", "personalisation": {"\x00": "x"}}, "personalisation"),
])
def test_transactional_message_with_a_nul_is_400(client, service, app, payload, field):
    assert_refused(post_json(client, service, "/v1/messages", payload), field)
    assert count_rows(app) == (0, 0)


def test_idempotency_key_with_a_nul_is_400(client, service, app):
    response = post_json(client, service, "/v1/messages", {"to": GOOD, "body": "x"}, **{"Idempotency-Key": "a\x00b"})
    assert_refused(response, "Idempotency-Key")
    assert count_rows(app) == (0, 0)


def test_delivery_report_with_a_nul_is_400(client):
    response = client.post("/webhooks/africastalking/test-secret", data={"id": "ATX\x00", "status": "Success"})
    assert_refused(response, "id")


def test_flaw_path_names_keys_and_values():
    assert flaw_path({"a": [1, {"b": "x\x00"}]}, "p") == ("p.a[1].b", "nul_character", False)
    assert flaw_path({"a": {"\x00": 1}}, "p") == ("p.a", "nul_character", True)
    assert flaw_path({"a": ["é", {"b": "\ud800"}]}, "p") == ("p.a[1].b", "lone_surrogate", False)
    assert flaw_path({"a": "fine", "n": 3.5, "z": None, "e": "😀"}, "p") is None


def test_flaw_path_survives_the_deepest_nesting_the_parser_allows():
    deep: object = "x\x00"
    for _ in range(5000):
        deep = [deep]
    assert flaw_path(deep, "p")[1] == "nul_character"


# JSON carries lone surrogates as \ud800 escapes; valid pairs (emoji) are one character and fine.
@pytest.mark.parametrize("path,payload,field", [
    ("/v1/broadcasts", '{"channel": "sms", "body": "Rain \\ud800", "recipients": [{"to": "+260961000001"}]}', "body"),
    ("/v1/broadcasts", '{"channel": "sms", "body": "Rain", "recipients": [{"to": "+26096\\udc001"}]}',
     "recipients[0].to"),
    ("/v1/broadcasts", '{"channel": "sms", "body": "Hi ((n))", "recipients": [{"to": "+260961000001", '
                       '"personalisation": {"n": "\\ud83d"}}]}', "recipients[0].personalisation.n"),
    ("/v1/messages", '{"to": "+260961000001", "body": "Hi", "personalisation": {"\\udfff": 1}}', "personalisation"),
    ("/v1/messages", '{"to": "+260961000001", "body": "Code \\ud800"}', "body"),
])
def test_a_lone_surrogate_is_400_and_writes_nothing(client, service, app, path, payload, field):
    response = post_json(client, service, path, payload)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "lone_surrogate"
    assert response.json["error"]["details"]["field"] == field
    assert count_rows(app) == (0, 0)


def test_emoji_written_as_a_surrogate_pair_are_kept(client, service, app):
    payload = ('{"channel": "sms", "body": "Rain \\ud83c\\udf27 ((n))", '
               '"recipients": [{"to": "+260961000001", "personalisation": {"n": "\\ud83d\\ude00"}}]}')
    assert post_json(client, service, "/v1/broadcasts", payload).status_code == 202
    assert count_rows(app) == (1, 1)
