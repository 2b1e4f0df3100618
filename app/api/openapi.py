"""GET /openapi.json: the public API as an OpenAPI 3.1 document, built from the app itself.

Paths and methods are the app's routes; each operation's parameters and request body are rendered
from the declaration its view checks requests with (app.api.contract); what it answers is written
in the openapi_* modules, one per part of the API. A route with no entry there, or a view with no
declaration, fails the build, so the document cannot leave an endpoint out.
"""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify

from app.api import openapi_accounts, openapi_audiences, openapi_broadcasts, openapi_content, openapi_dead_letters
from app.api.contract import SCHEMAS as REQUEST_SCHEMAS
from app.api.contract import Declared, Param, accepts, settled
from app.api.openapi_kit import (BOOLEAN, ERRORS, INTEGER, STRING, TIME, array, fails, obj, op, ref, reply,
                                 unprocessable)
from app.api.schema_text import text

bp = Blueprint("openapi", __name__)
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# Flask's own static route (the dashboard's script and style) has no view of ours to carry a declaration.
DECLARED_BY_ENDPOINT = {"static": Declared((Param("filename", "path", text(minLength=1)),))}
SCHEMAS = {
    "Error": obj({"error": obj({"code": {**STRING, "examples": ["validation_failed"]}, "message": STRING,
                                "details": {"type": "object",
                                            "description": "e.g. {\"field\": \"recipients[3].to\"}"}})}),
    "Quotas": obj({"quotas": array(obj({"scope": {**STRING, "examples": ["service:3", "provider:africastalking"]},
                                        "limit": INTEGER, "used": INTEGER, "remaining": INTEGER,
                                        "window_start": TIME, "resets_at": TIME}))}),
    "Health": obj({"status": {**STRING, "enum": ["ok", "degraded"]},
                   "checks": obj({"postgresql": STRING, "redis": STRING})}),
    "DeliveryReport": {**obj({"id": text(), "status": text(examples=["Success", "Failed"]),
                              "failureReason": text(), "networkCode": text()}, required=["id", "status"]),
                       "propertyNames": text(), "additionalProperties": text(),
                       "description": "Africa's Talking's form; Twilio posts MessageSid, MessageStatus, ErrorCode."},
}
CHALLENGE = {"WWW-Authenticate": {"schema": {**STRING, "examples": ['Bearer realm="herald"']},
                                  "description": "The scheme to authenticate with."}}
STORED = reply("Stored (false when every report is a repeat).", obj({"stored": BOOLEAN}))
PAGE = {"description": "The page.", "content": {"text/html": {"schema": STRING}}}
PATHS = {
    "/webhooks/{account}": {"post": op(
        "deliveryReport", "webhooks", "Delivery report callback of a signing gateway (Twilio)", {
            "200": STORED, **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The signature does not match the account.", ref("Error"))}, public=True)},
    "/webhooks/{account}/{secret}": {"post": op(
        "deliveryReportWithSecret", "webhooks", "Delivery report callback of a gateway that does not sign "
        "(Africa's Talking, Infobip)", {
            "200": STORED, **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The secret does not match the account's.", ref("Error"))}, public=True)},
    "/v1/quotas": {"get": op("getQuotas", "quotas", "Limit, used, remaining and reset time of each quota", {
        "200": reply("Every quota the service sends under.", ref("Quotas"))})},
    "/healthz": {"get": op("healthz", "operations", "Liveness: PostgreSQL and Redis answer", {
        "200": reply("Both stores answer.", ref("Health")),
        "503": reply("A store does not answer; checks names it.", ref("Health"))}, public=True)},
    "/metrics": {"get": {**op("metrics", "operations", "Prometheus metrics, computed at scrape time", {
        "200": {"description": "Prometheus text exposition format 0.0.4.",
                "content": {"text/plain; version=0.0.4": {"schema": STRING}}}, **fails("Unauthorized")}),
        "description": "No key from this host (loopback, not through a proxy); from anywhere else the "
                       "HERALD_METRICS_TOKEN as a bearer token, else 401.",
        "security": [{}, {"metricsToken": []}]}},
    "/openapi.json": {"get": op("openapi", "operations", "This document", {
        "200": reply("The OpenAPI 3.1 document.", {"type": "object"})}, public=True)},
    "/dashboard": {"get": op("dashboard", "operations", "The operator's dashboard page (it asks for a key)",
                             {"200": PAGE}, public=True)},
    "/static/{filename}": {"get": op("staticFile", "operations", "The dashboard's script and style sheet", {
        "200": {"description": "The file.", "content": {"*/*": {"schema": STRING}}}, **fails("NotFound")},
        public=True)},
}
OPERATIONS = {**openapi_broadcasts.PATHS, **openapi_audiences.PATHS, **openapi_content.PATHS,
              **openapi_dead_letters.PATHS, **openapi_accounts.ACCOUNT_PATHS, **PATHS}
RESPONSE_SCHEMAS = {**SCHEMAS, **openapi_broadcasts.SCHEMAS, **openapi_audiences.SCHEMAS, **openapi_content.SCHEMAS,
                    **openapi_dead_letters.SCHEMAS, **openapi_accounts.ACCOUNT_SCHEMAS}


def spec_path(rule: str) -> str:
    """Werkzeug's /a/<int:x> as OpenAPI's /a/{x}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def declared_inputs(app, endpoint: str) -> Declared:
    """What a route's view declares it accepts."""
    declared = DECLARED_BY_ENDPOINT.get(endpoint) or getattr(app.view_functions[endpoint], "declared", None)
    if declared is None:
        raise LookupError(f"the view of {endpoint} declares no inputs (app.api.contract.accepts)")
    return declared


def _implied_errors(declared: Declared) -> dict:
    """Refusals a declaration implies: 404 for a path id that names nothing, 400 and 422 for bad input."""
    implied = {}
    if any(p.missing for p in declared.params):
        implied.update(fails("NotFound"))
    if any(p.where != "path" for p in declared.params) or declared.body is not None:
        implied.update(fails("BadRequest", "Unprocessable"))
    return implied


def operation(app, rule, method: str) -> dict:
    """One routed operation: its written answers, and its inputs as its view declares them."""
    path = spec_path(rule.rule)
    written = OPERATIONS.get(path, {}).get(method)
    if written is None:
        raise LookupError(f"{method.upper()} {path} is routed but /openapi.json has no entry for it")
    declared = declared_inputs(app, rule.endpoint)
    responses = {**written["responses"], **{status: response for status, response in _implied_errors(declared).items()
                                            if status not in written["responses"]}}
    return {**written, "responses": responses, **declared.spec(app.config, rule.arguments)}


def paths(app) -> dict:
    """Every route of the app with its methods (HEAD and OPTIONS are the framework's), in path order."""
    found: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - IMPLICIT_METHODS):
            found.setdefault(spec_path(rule.rule), {})[method.lower()] = operation(app, rule, method.lower())
    return found


def document(app=None) -> dict:
    """The whole OpenAPI document of `app` (the current one by default)."""
    app = app or current_app
    return {
        "openapi": "3.1.0",
        "info": {"title": "Herald", "version": "1.0",
                 "description": "Bulk and transactional messaging. Every error answers with "
                                "{\"error\": {\"code\", \"message\", \"details\"}}. Text may hold no NUL "
                                "character and no lone UTF-16 surrogate (I-JSON): such text is 400."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in ("broadcasts", "contacts", "segments", "templates", "opt-outs",
                                             "dead-letters", "messages", "quotas", "webhooks", "operations")],
        "paths": paths(app),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key from `flask herald create-service`."},
                                "metricsToken": {
                                    "type": "http", "scheme": "bearer",
                                    "description": "HERALD_METRICS_TOKEN, for scrapes from another host."}},
            "schemas": {**RESPONSE_SCHEMAS, **settled(REQUEST_SCHEMAS, app.config)},
            "responses": {**{name: reply(words, ref("Error"), CHALLENGE if status == 401 else None)
                             for name, (status, words) in ERRORS.items()}, "Unprocessable": unprocessable()["422"]},
        },
    }


@bp.get("/openapi.json")
@accepts()
def openapi_json():
    """The OpenAPI document (no auth: it describes, it reveals nothing)."""
    return jsonify(document())
