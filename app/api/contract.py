"""Each operation's inputs, declared once: checked as declared, and rendered into /openapi.json.

A declaration is JSON Schema (2020-12, the dialect of OpenAPI 3.1). `@accepts(...)` on a view
checks its path, query and header parameters and its body against the declaration before the view
runs, and hands the view the checked values by name; `app.api.openapi` renders the very same
objects as the operation's parameters and request body. So the document states every bound the
code enforces, and the code refuses exactly what the document calls invalid:

- a value outside its schema is 422 naming the field and why (a path id, or a query id filter, that
  cannot name anything is 404 instead);
- text PostgreSQL cannot store (a NUL, a lone UTF-16 surrogate) is 400 naming the field, as before.

Rules no schema can state (a number the numbering plans know, a time not yet past, a name that
must exist) are checked afterwards by the services, and answer 422 with a code of their own that
the operation's document lists (see `app.api.openapi_kit.SEMANTIC_CODES`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from typing import Callable

import jsonschema_rs
from flask import current_app, request

from app.api.contract_errors import best, explain
from app.api.json_body import parse_json_object
from app.errors import MalformedRequest, NotFound, ValidationFailed
from app.services.content.storable_text import flaw, refuse

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Request body schemas by component name, shared with the document (app/api/request_schemas.py).
SCHEMAS: dict[str, dict] = {}
# Numbers in text (a query string, a form field) as JSON spells them, and nothing else.
INTEGER_TEXT = re.compile(r"-?[0-9]+\Z")
NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
# The config names schemas take bounds from, and the compiled validators (per schema and their values).
_SETTINGS: set[str] = set()
_VALIDATORS: dict[tuple, tuple] = {}


@dataclass(frozen=True)
class Setting:
    """A bound read from the app's config (e.g. HERALD_MAX_BODY_CHARS) when a schema is used."""

    name: str

    def __post_init__(self) -> None:
        """Remember the name: validators are cached per value of every setting."""
        _SETTINGS.add(self.name)


def settled(node: object, config) -> object:
    """The schema with every Setting replaced by the config's value."""
    if isinstance(node, Setting):
        return config[node.name]
    if isinstance(node, dict):
        return {key: settled(value, config) for key, value in node.items()}
    if isinstance(node, list):
        return [settled(value, config) for value in node]
    return node


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def define(name: str, schema: dict) -> dict:
    """Register a request body schema under its component name; answer a reference to it."""
    SCHEMAS[name] = schema
    return ref(name)


def _settings_key(config) -> tuple:
    """The config values schemas may depend on, as part of a cache key."""
    return tuple((name, config.get(name)) for name in sorted(_SETTINGS))


def _checker(key: tuple, document: dict) -> tuple[jsonschema_rs.Validator, dict]:
    """(validator, the document it checks against), compiled once per key."""
    found = _VALIDATORS.get(key)
    if found is None:
        found = _VALIDATORS[key] = (jsonschema_rs.Draft202012Validator(document, validate_formats=True), document)
    return found


def body_checker(name: str, config) -> tuple[jsonschema_rs.Validator, dict]:
    """The checker of one request body component (its references resolve among SCHEMAS)."""
    key = ("body", name, _settings_key(config))
    if key in _VALIDATORS:
        return _VALIDATORS[key]
    return _checker(key, {"$schema": DIALECT, "components": {"schemas": settled(SCHEMAS, config)},
                          "$ref": f"#/components/schemas/{name}"})


def violation(checker: tuple, value: object, root: str = "body") -> ValidationFailed | None:
    """The 422 for a value its schema refuses, naming the field (`root` when it is the value itself), or None."""
    validator, document = checker
    if validator.is_valid(value):
        return None
    where, message = explain(best(validator.iter_errors(value)), root, document)
    return ValidationFailed(message, {"field": where})


def check_body(name: str, value: object, config) -> object:
    """The value itself, or 422 naming the field its component schema refuses."""
    failure = violation(body_checker(name, config), value)
    if failure is not None:
        raise failure
    return value


@dataclass(frozen=True)
class Param:
    """One path, query or header parameter; `missing` names what a path or id value that breaks
    its schema fails to name (404 'no such ...'), instead of a 422; `convert` turns the checked
    text into the value the view takes (uuid.UUID)."""

    name: str
    where: str
    schema: dict
    description: str = ""
    required: bool = False
    missing: str | None = None
    convert: Callable | None = None

    @property
    def arg(self) -> str:
        """The view's keyword for it: Idempotency-Key -> idempotency_key."""
        return self.name.lower().replace("-", "_")

    def spec(self, config) -> dict:
        """The OpenAPI parameter object."""
        spec = {"name": self.name, "in": self.where, "required": self.required or self.where == "path",
                "schema": settled(self.schema, config)}
        return {**spec, "description": self.description} if self.description else spec

    def read(self, raw: object, config) -> object:
        """The checked value (the schema's default when absent), or the 4xx naming it."""
        if raw is None:
            if self.required:
                raise ValidationFailed(f"{self.name} is required", {"field": self.name})
            return self.schema.get("default")
        value = raw
        if isinstance(raw, str):  # a route converter may have typed it already (<int:...>)
            code = flaw(raw)
            if code:
                raise self._refused() if self.missing else refuse(self.name, code)
            value = self._typed(raw)
        checker = _checker(("param", self.where, self.name, repr(self.schema), _settings_key(config)),
                           {"$schema": DIALECT, **settled(self.schema, config)})
        failure = violation(checker, value, self.name)
        if failure is not None:
            raise self._refused() if self.missing else failure
        return self.convert(value) if self.convert else value

    def _typed(self, raw: str) -> object:
        """Text as the schema's type: integers and numbers in their JSON spelling, else text."""
        kind = self.schema.get("type")
        if kind == "integer" and INTEGER_TEXT.match(raw):
            return int(raw)
        if kind == "number" and NUMBER_TEXT.match(raw):
            return float(raw)
        if kind in ("integer", "number"):
            if self.missing:
                raise self._refused()
            raise ValidationFailed(f"{self.name} must be {'an integer' if kind == 'integer' else 'a number'}",
                                   {"field": self.name})
        return raw

    def _refused(self) -> NotFound:
        """A value that cannot name anything names nothing."""
        return NotFound(f"no such {self.missing}", {"field": self.name})


@dataclass(frozen=True)
class JsonBody:
    """A JSON object body checked against one component schema; an optional one may be left empty."""

    schema_name: str
    required: bool = True

    def spec(self, config) -> dict:
        """The OpenAPI request body object."""
        return {"required": self.required, "content": {"application/json": {"schema": ref(self.schema_name)}}}

    def read(self, config) -> dict | None:
        """The checked object (None for an empty optional body), or the 4xx naming the field."""
        raw = request.get_data(cache=False)
        if not self.required and not raw.strip():
            return None
        return check_body(self.schema_name, parse_json_object(raw), config)


@dataclass(frozen=True)
class Declared:
    """Everything one operation accepts; `described` documents a body the code hands on unread
    (a gateway's callback, which its provider verifies and parses)."""

    params: tuple[Param, ...] = ()
    body: object = None
    described: dict | None = None

    def spec(self, config, path_args=()) -> dict:
        """The operation's `parameters` and `requestBody` (path parameters the route has)."""
        spec: dict = {}
        params = [p for p in self.params if p.where != "path" or p.name in path_args]
        if params:
            spec["parameters"] = [param.spec(config) for param in params]
        if self.body is not None:
            spec["requestBody"] = self.body.spec(config)
        elif self.described is not None:
            spec["requestBody"] = self.described
        return spec


def _raw(param: Param, path_values: dict) -> str | None:
    """The parameter's text as the request carries it."""
    if param.where == "path":
        return path_values.get(param.name)
    source = request.args if param.where == "query" else request.headers
    return source.get(param.name)


def accepts(*params: Param, body=None, described: dict | None = None):
    """Declare a view's inputs: checked before it runs, passed by name (`body` for the body)."""

    def decorate(view):
        @wraps(view)
        def checked(**path_values):
            config = current_app.config
            values = {param.arg: param.read(_raw(param, path_values), config) for param in params}
            if body is not None:
                values["body"] = body.read(config)
            return view(**values)

        checked.declared = Declared(tuple(params), body, described)
        return checked

    return decorate


def unsupported_media_type(allowed: str) -> MalformedRequest:
    """400 naming Content-Type when the body comes in a media type the operation does not take."""
    return MalformedRequest(f"send {allowed}", {"field": "Content-Type"}, code="unsupported_media_type")
