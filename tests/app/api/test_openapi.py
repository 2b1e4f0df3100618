"""GET /openapi.json: the document matches the routes and the shapes the API really answers with."""
from __future__ import annotations

import json
import re

import pytest
from herald_testing import recipients

from app.api.openapi import declared_inputs, document, spec_path

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# Every method a client may try; those a path does not serve must be 405 naming the ones it does.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
VERBS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def routed_operations(app) -> dict[str, set[str]]:
    """Every path of the app with its methods, lower-case as OpenAPI spells them."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        routes.setdefault(spec_path(rule.rule), set()).update(m.lower() for m in rule.methods - IMPLICIT_METHODS)
    return routes


def documented_operations(spec: dict) -> dict[str, set[str]]:
    """Paths of the document with their operations."""
    return {path: {key for key in item if key in VERBS} for path, item in spec["paths"].items()}


def concrete(path: str) -> str:
    """A URL the path's rule matches: every {parameter} filled with a plain value."""
    return re.sub(r"{[^}]+}", lambda m: "1" if m.group(0).endswith("_id}") and "broadcast" not in m.group(0) else "x",
                  path)


def deref(spec: dict, node: dict) -> dict:
    """One level of local $ref."""
    if "$ref" not in node:
        return node
    target = spec
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    return target


def schema(spec: dict, name: str) -> dict:
    """A component schema, with allOf parts merged into one property map."""
    node = spec["components"]["schemas"][name]
    properties: dict = {}
    for part in node.get("allOf", [node]):
        if "$ref" in part:
            part = spec["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
        properties.update(part["properties"])
    return properties


def all_refs(node) -> list[str]:
    """Every $ref string anywhere in a JSON value."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in all_refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in all_refs(value)]
    return []


@pytest.fixture
def spec(client) -> dict:
    """The document as served."""
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_every_route_is_documented_with_its_methods_and_nothing_else_is(app, spec):
    routes = routed_operations(app)
    assert documented_operations(spec) == routes
    assert {"/metrics", "/v1/broadcasts/{broadcast_id}/report.csv", "/openapi.json", "/static/{filename}"} \
        <= set(routes)


def test_every_method_a_path_does_not_serve_is_405_naming_those_it_does(client, spec):
    tried = 0
    for path, methods in documented_operations(spec).items():
        url = concrete(path)
        served = {m.upper() for m in methods} | {"OPTIONS"} | ({"HEAD"} if "get" in methods else set())
        options = client.options(url)
        assert options.status_code == 200 and set(options.headers["Allow"].split(", ")) == served, (path, options)
        for method in sorted(set(METHODS) - served):
            response = client.open(url, method=method)
            assert response.status_code == 405, (method, path, response.status_code)
            assert set(response.headers["Allow"].split(", ")) == served, (method, path)
            if method != "HEAD":  # a HEAD answer has no body
                assert response.json["error"]["code"] == "method_not_allowed", (method, path)
            tried += 1
    assert tried > 150


def test_a_contact_named_like_the_list_verbs_is_no_route_of_its_own(client, service):
    # /v1/contacts/import and /export are the list's paths; a contact id never shadows them.
    assert client.get("/v1/contacts/import", headers=service.headers).status_code == 405
    assert client.delete("/v1/contacts/export", headers=service.headers).status_code == 405


def test_every_view_declares_its_inputs_and_every_path_parameter(app, spec):
    for rule in app.url_map.iter_rules():
        declared = declared_inputs(app, rule.endpoint)
        assert {p.name for p in declared.params if p.where == "path"} >= set(rule.arguments), rule.rule


def test_path_parameters_match_the_route_arguments(app, spec):
    for rule in app.url_map.iter_rules():
        item = spec["paths"][spec_path(rule.rule)]
        for method in rule.methods - IMPLICIT_METHODS:
            params = item.get("parameters", []) + item[method.lower()].get("parameters", [])
            names = {p["name"] for p in (deref(spec, p) for p in params) if p["in"] == "path"}
            assert names == set(rule.arguments), (rule.rule, method)


def test_every_reference_resolves(spec):
    references = all_refs(spec)
    assert len(references) > 20
    for reference in references:
        assert reference.startswith("#/")
        assert isinstance(deref(spec, {"$ref": reference}), dict), reference


def test_document_declares_bearer_auth_errors_uploads_and_idempotency(spec):
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        **spec["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    error = spec["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"code", "message", "details"}
    create = spec["paths"]["/v1/broadcasts"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"202", "400", "401", "413", "422"} <= set(create["responses"])
    assert {deref(spec, p)["name"] for p in create["parameters"]} == {"Idempotency-Key"}
    assert "409" in spec["paths"]["/v1/broadcasts/{broadcast_id}/pause"]["post"]["responses"]
    assert "404" in spec["paths"]["/v1/broadcasts/{broadcast_id}"]["get"]["responses"]
    # /metrics: no key from loopback, the metrics token from anywhere else.
    assert spec["paths"]["/metrics"]["get"]["security"] == [{}, {"metricsToken": []}]
    assert spec["components"]["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"]


def test_authenticated_operations_document_401_and_public_ones_do_not_need_a_key(spec):
    public = {("/healthz", "get"), ("/webhooks/{account}", "post"), ("/webhooks/{account}/{secret}", "post"),
              ("/webhooks/{account}/{secret}/inbound", "post"), ("/webhooks/{account}/inbound", "post"),
              ("/openapi.json", "get"), ("/dashboard", "get"), ("/static/{filename}", "get")}
    for path, methods in documented_operations(spec).items():
        for method in methods:
            operation = spec["paths"][path][method]
            if (path, method) == ("/metrics", "get"):
                assert {} in operation["security"] and "401" in operation["responses"]
            elif (path, method) in public:
                assert operation["security"] == []
            else:
                assert "security" not in operation and "401" in operation["responses"], (path, method)


def test_response_shapes_match_the_schemas(client, service, spec):
    body = {"channel": "sms", "body": "Rain expected", "recipients": recipients(3)}
    created = client.post("/v1/broadcasts", data=json.dumps(body),
                          headers={**service.headers, "Content-Type": "application/json"})
    # `audience` is only on the 202 of a broadcast to contacts.
    assert set(created.json) == set(schema(spec, "Broadcast")) - {"waiting_for_window", "window_opens_at", "audience"}
    bid = created.json["id"]
    summary = client.get(f"/v1/broadcasts/{bid}", headers=service.headers).json
    assert set(summary) == set(schema(spec, "BroadcastSummary")) - {"waiting_for_window", "window_opens_at",
                                                                     "audience"}
    page = client.get(f"/v1/broadcasts/{bid}/messages", headers=service.headers).json
    assert set(page["messages"][0]) == set(schema(spec, "MessageRow"))
    audit = client.get(f"/v1/broadcasts/{bid}/audit", headers=service.headers).json
    assert set(audit) == set(schema(spec, "AuditLog"))
    paused = client.post(f"/v1/broadcasts/{bid}/pause", headers=service.headers)
    assert paused.status_code == 200 and set(paused.json) <= set(schema(spec, "Broadcast"))
    again = client.post(f"/v1/broadcasts/{bid}/pause", headers=service.headers)
    assert again.status_code == 409 and set(again.json["error"]) == {"code", "message", "details"}
    sent = client.post("/v1/messages", json={"to": "+260961000001", "body": "Your code is 1234"},
                       headers=service.headers)
    assert set(sent.json) == set(schema(spec, "MessageAccepted"))
    shown = client.get(f"/v1/messages/{sent.json['id']}", headers=service.headers).json
    assert set(shown) == set(schema(spec, "Message"))
    assert set(client.get("/v1/quotas", headers=service.headers).json) == set(schema(spec, "Quotas"))
    assert set(client.get("/healthz").json) == set(schema(spec, "Health"))


def test_the_served_document_is_the_built_one(app, client):
    assert client.get("/openapi.json").json == json.loads(json.dumps(document(app)))
