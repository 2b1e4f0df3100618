"""JSON bodies PostgreSQL cannot store or Python cannot parse safely: 400 naming the body, nothing written."""
from __future__ import annotations

import pytest
from herald_testing import count_rows, post_json

GOOD = "+260961000001"
BROADCAST = '{"channel": "sms", "body": "Hi", "recipients": [{"to": "%s", "personalisation": {"x": %%s}}]}' % GOOD
MESSAGE = '{"to": "%s", "body": "Hi", "personalisation": {"x": %%s}}' % GOOD


@pytest.mark.parametrize("path,template", [("/v1/broadcasts", BROADCAST), ("/v1/messages", MESSAGE)])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_numbers_jsonb_cannot_hold_are_400(client, service, app, path, template, value):
    response = post_json(client, service, path, template % value)
    assert response.status_code == 400, response.json
    assert response.json["error"]["details"]["field"] == "body"
    assert count_rows(app) == (0, 0)


@pytest.mark.parametrize("path", ["/v1/broadcasts", "/v1/messages"])
def test_nesting_deep_enough_to_exhaust_the_parser_is_400(client, service, app, path):
    response = post_json(client, service, path, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400, response.json
    assert response.json["error"]["details"]["field"] == "body"
    assert count_rows(app) == (0, 0)


def test_large_finite_numbers_are_kept(client, service, app):
    response = post_json(client, service, "/v1/messages", MESSAGE % "1e300")
    assert response.status_code == 202
    assert count_rows(app) == (0, 1)


# Every JSON write operation, with a body that passes validation as far as it can: each string and each
# key of it in turn gets a lone surrogate (the body must then be refused whole, naming that field).
SURROGATE_CATALOGUE = {
    ("post", "/v1/broadcasts"): [
        {"channel": "sms", "body": "Hi ((name))", "sender": "Herald", "priority": "normal",
         "scheduled_for": "2099-01-01T08:00:00+02:00",
         "recipients": [{"to": GOOD, "personalisation": {"name": "Ada", "farm": {"plots": ["a"]}}}]},
        {"channel": "sms", "template": "welcome", "recipients": [{"to": GOOD, "personalisation": {"name": "Ada"}}]},
        {"channel": "sms", "body": "Hi", "filter": {"and": [{"field": "attributes.district", "in": ["Chipata"]},
                                                            {"field": "language", "eq": "en"}]}},
        {"channel": "sms", "body": "Hi", "segment": "farmers", "dry_run": True},
    ],
    ("post", "/v1/broadcasts/{broadcast_id}/pause"): [{"reason": "checking the figures"}],
    ("post", "/v1/broadcasts/{broadcast_id}/resume"): [{"reason": "figures checked"}],
    ("post", "/v1/broadcasts/{broadcast_id}/cancel"): [{"reason": "wrong district"}],
    ("patch", "/v1/contacts/{external_id}"): [
        {"email": "ada@x.org", "phone": "+260961000011", "whatsapp": "+260961000011", "inbox_user_id": "ada",
         "language": "en", "attributes": {"district": "Chipata"}, "consent": {"sms": {"granted": True,
                                                                                    "source": "call centre"}}}],
    ("post", "/v1/dead-letters/requeue"): [{"broadcast_id": "{broadcast_id}", "reason": "permanent_error"}],
    ("post", "/v1/dead-letters/discard"): [{"broadcast_id": "{broadcast_id}", "reason": "permanent_error"}],
    ("post", "/v1/dead-letters/{dead_letter_id}/requeue"): [{"force": True}],
    ("post", "/v1/dead-letters/{dead_letter_id}/discard"): [{"force": True}],
    ("post", "/v1/messages"): [{"channel": "sms", "to": GOOD, "body": "Code ((code))", "priority": "asap",
                                "personalisation": {"code": "1234"}}],
    ("post", "/v1/opt-outs"): [{"channel": "sms", "address": GOOD, "reason": "asked by phone"}],
    ("delete", "/v1/opt-outs"): [{"channel": "sms", "address": GOOD, "reason": "asked to hear again"}],
    ("post", "/v1/segments"): [{"name": "chipata", "filter": {"or": [{"field": "attributes.district", "eq": "Chipata"},
                                                                     {"not": {"field": "language", "eq": "en"}}]}}],
    ("post", "/v1/templates"): [{"name": "welcome", "channel": "sms", "language": "en", "body": "Hi ((name))"}],
}


def surrogate_variants(value, path: str = ""):
    """(body, field the refusal must name) for each string and each key of a JSON value, given a lone surrogate."""
    if isinstance(value, str):
        yield value + "\ud800", path
        yield "\udc00" + value, path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for changed, field in surrogate_variants(item, f"{path}[{i}]"):
                yield [*value[:i], changed, *value[i + 1:]], field
    elif isinstance(value, dict):
        for key, item in value.items():
            yield {**{k: v for k, v in value.items() if k != key}, key + "\udfff": item}, path or "body"
            for changed, field in surrogate_variants(item, f"{path}.{key}".lstrip(".")):
                yield {**value, key: changed}, field


def hostile_rows(app, client, service) -> dict:
    """Rows the catalogue's bodies name: contacts with attributes, a template, a segment, a broadcast, a dead letter."""
    from contacts_testing import FARMERS, import_rows

    from app.extensions import db
    from app.models import DeadLetter

    import_rows(app, service.service_id, FARMERS)
    assert post_json(client, service, "/v1/templates", {"name": "welcome", "body": "Hi ((name))"}).status_code == 201
    assert post_json(client, service, "/v1/segments", {"name": "farmers", "filter": {"field": "language", "eq": "en"}}
                     ).status_code == 201
    broadcast = post_json(client, service, "/v1/broadcasts", {"channel": "sms", "body": "Hi", "recipients": [
        {"to": GOOD}], "scheduled_for": "2099-01-01T08:00:00+02:00"}).json
    message = post_json(client, service, "/v1/messages", {"to": "+260961000009", "body": "Code 1"}).json
    with app.app_context():
        entry = DeadLetter(message_id=message["id"], service_id=service.service_id, reason="permanent_error")
        db.session.add(entry)
        db.session.commit()
        return {"broadcast_id": broadcast["id"], "external_id": "f1", "dead_letter_id": str(entry.id)}


def row_total(app) -> int:
    """Rows in every table the API writes."""
    from herald_testing import TABLES
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        total = db.session.execute(text("SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES))).scalar()
        db.session.rollback()
        return total


def _filled(template: str, rows: dict) -> str:
    """A path or value with {name} placeholders replaced by real row ids."""
    for name, value in rows.items():
        template = template.replace(f"{{{name}}}", value)
    return template


@pytest.mark.parametrize("method,path", sorted(SURROGATE_CATALOGUE))
def test_a_lone_surrogate_in_any_field_is_400_naming_it_and_writes_nothing(app, client, service, method, path):
    import json

    rows = hostile_rows(app, client, service)
    url = _filled(path, rows)
    failures = []
    for body in SURROGATE_CATALOGUE[(method, path)]:
        body = json.loads(_filled(json.dumps(body), rows))
        clean = client.open(url, method=method, json=body, headers=service.headers)
        assert clean.status_code < 500 and clean.status_code not in (400, 422), (body, clean.json)
        for changed, field in surrogate_variants(body):
            before = row_total(app)
            for encoded in (json.dumps(changed).encode(),  # \ud800 escapes
                            json.dumps(changed, ensure_ascii=False).encode("utf-8", "surrogatepass")):  # raw bytes
                answer = client.open(url, method=method, data=encoded, headers={
                    **service.headers, "Content-Type": "application/json"})
                error = (answer.json or {}).get("error", {})
                if (answer.status_code, error.get("code"), error.get("details", {}).get("field")) != (
                        400, "lone_surrogate", field):
                    failures.append((field, answer.status_code, error))
            if row_total(app) != before:
                failures.append((field, "wrote rows"))
    assert not failures, failures


def test_the_surrogate_catalogue_covers_every_json_write_operation(app, client):
    spec = client.get("/openapi.json").json
    json_writes = {(method, path) for path, operations in spec["paths"].items() for method, op in operations.items()
                   if isinstance(op, dict) and "application/json" in op.get("requestBody", {}).get("content", {})
                   and not path.startswith("/webhooks/")}  # provider bodies: refuse_unstorable, test_storable_text
    assert json_writes == set(SURROGATE_CATALOGUE)
