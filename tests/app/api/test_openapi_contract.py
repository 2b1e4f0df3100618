"""Where /openapi.json and the code disagreed under Schemathesis against the running API, pinned.

Each test holds one side to the other through the test client: what the document allows is accepted,
what it forbids is refused with a JSON 4xx naming the field, and a refused method says which are allowed.
"""
from __future__ import annotations

import pytest
from herald_testing import post_json, recipients, sms

from app.api.openapi import document
from app.api.params import BIGINT_MAX
from app.services.intake.broadcast_request import MIN_RATE_PER_SECOND


def request_schema(operation: dict) -> dict:
    """The JSON request body schema of an operation, its $ref resolved."""
    spec = document()
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


@pytest.mark.parametrize("path", ["/healthz", "/v1/broadcasts", "/v1/contacts/export"])
def test_a_method_a_path_does_not_serve_is_405_naming_the_allowed_ones(client, service, path):
    response = client.open(path, method="TRACE", headers=service.headers)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.json["error"]["code"] == "method_not_allowed"


def test_an_empty_broadcast_id_filter_is_not_a_uuid_so_names_no_broadcast(client, service):
    response = client.get("/v1/dead-letters?broadcast_id=", headers=service.headers)
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "not_found"


def test_the_after_cursor_is_documented_up_to_the_largest_id(client, service):
    after = next(p for p in document()["components"]["parameters"].values() if p["name"] == "after")
    assert after["schema"]["maximum"] == BIGINT_MAX
    assert client.get(f"/v1/contacts?after={BIGINT_MAX}", headers=service.headers).status_code == 200
    response = client.get(f"/v1/contacts?after={BIGINT_MAX + 1}", headers=service.headers)
    assert response.status_code == 422
    assert response.json["error"]["details"]["field"] == "after"


def test_the_smallest_documented_send_rate_is_accepted(client, service):
    fields = document()["components"]["schemas"]["BroadcastRequest"]["properties"]
    lowest = fields["rate_limit_per_second"]["minimum"]
    assert lowest == float(MIN_RATE_PER_SECOND)
    payload = {**sms(recipients(1)), "dry_run": True}
    assert post_json(client, service, "/v1/broadcasts", {**payload, "rate_limit_per_second": lowest}).status_code == 200
    response = post_json(client, service, "/v1/broadcasts", {**payload, "rate_limit_per_second": lowest / 2})
    assert response.status_code == 422
    assert response.json["error"]["details"]["field"] == "rate_limit_per_second"


def test_discard_documents_no_force_and_refuses_it_while_requeue_takes_it(client, service):
    paths = document()["paths"]
    discard = request_schema(paths["/v1/dead-letters/discard"]["post"])
    requeue = request_schema(paths["/v1/dead-letters/requeue"]["post"])
    assert "force" not in discard["properties"] and "force" in requeue["properties"]
    assert discard["additionalProperties"] is False and requeue["additionalProperties"] is False
    response = post_json(client, service, "/v1/dead-letters/discard", {"force": True})
    assert response.status_code == 422
    assert response.json["error"]["details"]["field"] == "force"
    assert post_json(client, service, "/v1/dead-letters/requeue", {"force": True}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/dead-letters/requeue", "/v1/dead-letters/discard",
                                  "/v1/dead-letters/1/requeue", "/v1/dead-letters/1/discard"])
def test_a_dead_letter_action_refuses_a_field_it_does_not_name(client, service, path):
    response = post_json(client, service, path, {"colour": "red"})
    assert response.status_code == 422
    assert response.json["error"]["details"]["field"] == "colour"


def test_a_contact_patch_is_a_closed_object_and_refuses_other_fields(client, service):
    patch = request_schema(document()["paths"]["/v1/contacts/{external_id}"]["patch"])
    assert patch["additionalProperties"] is False
    client.patch("/v1/contacts/farmer-1", json={"phone": "+260961000001"}, headers=service.headers)
    response = client.patch("/v1/contacts/farmer-1", json={"colour": "red"}, headers=service.headers)
    assert response.status_code == 422
    assert response.json["error"]["details"]["field"] == "colour"


@pytest.mark.parametrize("language", [False, 0, {}, [], "EN", "en\n"])
def test_a_template_language_that_is_no_language_code_is_refused(client, service, language):
    payload = {"name": "advisory", "body": "Rain expected", "language": language}
    response = post_json(client, service, "/v1/templates", payload)
    assert response.status_code == 422, response.json
    assert response.json["error"]["details"]["field"] == "language"


@pytest.mark.parametrize("language,stored", [(None, ""), ("", ""), ("bem", "bem")])
def test_a_null_template_language_is_the_default_as_the_document_says(client, service, language, stored):
    fields = request_schema(document()["paths"]["/v1/templates"]["post"])["properties"]
    assert "null" in fields["language"]["type"]
    response = post_json(client, service, "/v1/templates", {"name": "advisory", "body": "Rain", "language": language})
    assert response.status_code == 201, response.json
    assert response.json["language"] == stored


@pytest.mark.parametrize("method", ["post", "delete"])
def test_an_opt_out_reason_may_be_null_as_documented(client, service, method):
    payload = {"address": "+260961000001", "reason": None}
    post_json(client, service, "/v1/opt-outs", {"address": "+260961000001"})
    response = client.open("/v1/opt-outs", method=method.upper(), json=payload, headers=service.headers)
    assert response.status_code in (200, 201), response.json
