"""Schemathesis against the app's own /openapi.json, in-process over WSGI with a real API key.

Every operation, with valid (positive) and invalid (negative) inputs, then valid inputs aimed at
rows that exist (a broadcast, a message, a dead letter, the webhook's secret): no answer is a 5xx,
and every answer is documented (status code, content type, body schema, headers). A finding means
the code or the spec is wrong. Operations are driven one by one through schemathesis' Python API
(`operation.as_strategy` under hypothesis), not its pytest plugin, whose lazy-fixture loader does
not run under pytest 9.
"""
from __future__ import annotations

import schemathesis
from herald_testing import post_json, recipients, sms
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from app.extensions import db
from app.models import DeadLetter

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Examples per operation and pass (~50 runs): about 30 s on this loaded 2-core machine, under a minute.
MAX_EXAMPLES = 8


def fuzz(operation, mode: GenerationMode, headers: dict, path_parameters: dict | None = None) -> None:
    """Run one operation's generated cases; raises the first failure hypothesis keeps."""

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def existing_rows(client, service, app) -> dict:
    """Path parameters naming real rows of this service: a broadcast with a rejected row, a message, a dead letter."""
    broadcast = post_json(client, service, "/v1/broadcasts", sms(recipients(3) + [{"to": "=1+2"}])).json
    message = post_json(client, service, "/v1/messages", {"to": "+260961000009", "body": "Code 1"}).json
    with app.app_context():
        entry = DeadLetter(message_id=message["id"], service_id=service.service_id, reason="permanent_error")
        db.session.add(entry)
        db.session.commit()
        dead_letter_id = entry.id
    return {"broadcast_id": broadcast["id"], "message_id": message["id"], "dead_letter_id": dead_letter_id,
            "account": "africastalking", "secret": app.config["HERALD_WEBHOOK_SECRET"]}


def passes(operation, rows: dict):
    """(label, mode, fixed path parameters) for each pass over one operation."""
    yield "positive", GenerationMode.POSITIVE, None
    yield "negative", GenerationMode.NEGATIVE, None
    fixed = {name: value for name, value in rows.items() if f"{{{name}}}" in operation.path}
    if fixed:
        yield "existing rows", GenerationMode.POSITIVE, fixed


def test_every_answer_is_documented_and_none_is_a_server_error(app, client, service):
    rows = existing_rows(client, service, app)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    failures = {}
    for operation in operations:
        for label, mode, fixed in passes(operation, rows):
            try:
                fuzz(operation, mode, service.headers, fixed)
            except Unsatisfiable:
                continue  # nothing in this operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - run every operation, then fail
                failures[f"{operation.label} ({label})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
