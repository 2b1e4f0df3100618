"""The bounds /openapi.json declares are the ones the API enforces: read from the document, tried at the bound
and just past it.

Every integer and number minimum/maximum, string minLength/maxLength and array minItems of the query and
header parameters and of the JSON request bodies' fields is taken from the served document (not listed
here): a value at the bound passes the checks (the request may still fail later, e.g. 404 for an id that
names nothing, or a 422 with a code of its own for a rule no schema states), a value just past it is 422
naming the field; text with a NUL in it is 400 naming the field.
"""
from __future__ import annotations

import json
import re
import uuid

import jsonschema_rs
import pytest
from herald_testing import post_json

from app.api.contract import SCHEMAS
from app.api.openapi import document

BOUNDED_ARRAYS = 1000  # a larger bound (the recipient limit: over it is 413) is tried in test_broadcasts_api


def concrete(path: str) -> str:
    """A URL for the path: ids that are well formed but name nothing."""
    return re.sub(r"{[^}]+}", lambda m: str(uuid.uuid4()) if m.group(0) == "{broadcast_id}" else "1", path)


def resolved(spec: dict, schema: dict) -> dict:
    """A component schema behind a $ref."""
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def trials(schema: dict) -> list[tuple[object, bool]]:
    """(value, should pass) pairs at and just past each bound the schema declares (a value at the bound
    that breaks another rule of the field, such as a pattern, is not tried)."""
    kinds = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    out = []
    if "integer" in kinds or "number" in kinds:
        step = 1 if "integer" in kinds else None
        if "minimum" in schema:
            low = schema["minimum"]
            out += [(low, True), (low - (step or max(abs(low) / 2, 0.5)), False)]
        if "maximum" in schema:
            high = schema["maximum"]
            out += [(high, True), (high + (step or max(abs(high) / 2, 0.5)), False)]
    if "string" in kinds:
        if schema.get("minLength", 0) > 0:
            out += [("a" * schema["minLength"], True), ("a" * (schema["minLength"] - 1), False)]
        if "maxLength" in schema:
            out += [("a" * schema["maxLength"], True), ("a" * (schema["maxLength"] + 1), False)]
    if "array" in kinds and 0 < schema.get("minItems", 0) <= BOUNDED_ARRAYS:
        out += [([], False)] if schema["minItems"] == 1 else []
    if not any(passes for _value, passes in out):
        return out
    fits = jsonschema_rs.validator_for(schema).is_valid
    return [(value, passes) for value, passes in out if not passes or fits(value)]


def operations(spec: dict):
    """(method, path, operation) of every documented operation."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def refused(response, field: str) -> bool:
    """True when the answer refuses the request because of this field's schema (422) or text (400)."""
    if response.status_code not in (400, 422) or not response.is_json:
        return False
    error = response.json["error"]
    return error["details"].get("field") == field and error["code"] != "unsupported_media_type" and (
        response.status_code == 400 or error["code"] == "validation_failed")


def send(client, service, method: str, path: str, query: dict | None = None, body: dict | None = None,
         headers: dict | None = None):
    """One request with the service's key."""
    data = None if body is None else json.dumps(body)
    return client.open(concrete(path), method=method.upper(), query_string=query, data=data,
                       headers={**service.headers, "Content-Type": "application/json", **(headers or {})})


@pytest.fixture
def spec(app, client) -> dict:
    """The document as served."""
    return client.get("/openapi.json").json


def example(spec: dict, operation: dict) -> dict | None:
    """The operation's JSON body example, if it takes one."""
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return resolved(spec, schema).get("examples", [None])[0] if schema else None


def test_every_declared_parameter_bound_is_enforced_as_declared(client, service, spec):
    tried = 0
    for method, path, operation in operations(spec):
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                continue
            for value, passes in trials(param["schema"]):
                query = {param["name"]: str(value)} if param["in"] == "query" else None
                headers = {param["name"]: str(value)} if param["in"] == "header" else None
                response = send(client, service, method, path, query, example(spec, operation), headers)
                assert refused(response, param["name"]) != passes, (method, path, param["name"], value, response.json)
                tried += 1
    assert tried >= 20


def json_bodies(spec: dict):
    """(method, path, component name, body schema) of every operation taking a JSON object it checks."""
    for method, path, operation in operations(spec):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content and "$ref" in content["application/json"]["schema"]:
            name = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            if name in SCHEMAS:
                yield method, path, name, resolved(spec, content["application/json"]["schema"])


def test_every_declared_body_field_bound_is_enforced_as_declared(client, service, spec):
    tried = 0
    for method, path, _name, schema in json_bodies(spec):
        example = schema["examples"][0]
        assert send(client, service, method, path, body=example).status_code not in (400, 422), (method, path)
        for name, field in schema["properties"].items():
            for value, passes in trials(resolved(spec, field)):
                response = send(client, service, method, path, body={**example, name: value})
                assert refused(response, name) != passes, (method, path, name, str(value)[:40], response.json)
                tried += 1
    assert tried >= 25


def test_declared_text_cannot_hold_a_nul_anywhere(client, service, spec):
    for method, path, _name, schema in json_bodies(spec):
        example = schema["examples"][0]
        for name, field in schema["properties"].items():
            if "string" in str(resolved(spec, field).get("type")):
                response = send(client, service, method, path, body={**example, name: "a\x00b"})
                assert response.status_code == 400 and response.json["error"]["details"]["field"] == name, (path, name)


def test_every_request_body_is_published_with_an_example(app, spec):
    bodies = {name: schema for _m, _p, name, schema in json_bodies(spec)}
    assert set(bodies) == {"BroadcastRequest", "MessageRequest", "TemplateRequest", "SegmentRequest", "ContactPatch",
                           "OptOutRequest", "LifecycleRequest", "ForceRequest", "DeadLetterFilter", "RequeueFilter"}
    assert all(schema["examples"] for schema in bodies.values())
    assert set(SCHEMAS) <= set(spec["components"]["schemas"])
    with app.app_context():
        assert document(app)["components"]["schemas"]["BroadcastRequest"]["properties"]["body"]["maxLength"] == \
            app.config["HERALD_MAX_BODY_CHARS"]


def test_an_empty_broadcast_id_filter_is_not_a_uuid_so_names_no_broadcast(client, service):
    response = client.get("/v1/dead-letters?broadcast_id=", headers=service.headers)
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "not_found"


def test_discard_takes_no_force_while_requeue_does(client, service):
    response = post_json(client, service, "/v1/dead-letters/discard", {"force": True})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "force"
    assert post_json(client, service, "/v1/dead-letters/requeue", {"force": True}).status_code == 200


@pytest.mark.parametrize("language,stored", [(None, ""), ("", ""), ("bem", "bem")])
def test_a_null_template_language_is_the_default_as_the_document_says(client, service, language, stored):
    response = post_json(client, service, "/v1/templates", {"name": "advisory", "body": "Rain", "language": language})
    assert response.status_code == 201, response.json
    assert response.json["language"] == stored


def test_a_rule_no_schema_states_answers_a_code_the_operation_lists(client, service, spec):
    response = post_json(client, service, "/v1/messages", {"to": "12", "body": "Code 1"})
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_phone_number"
    listed = spec["paths"]["/v1/messages"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert "invalid_phone_number" in listed["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
