"""POST /v1/messages: the personalised text is held to HERALD_MAX_BODY_CHARS, not only the template."""
from __future__ import annotations

from herald_testing import count_rows, post_json


def test_a_personalised_message_over_the_limit_is_refused(client, service, app):
    limit = app.config["HERALD_MAX_BODY_CHARS"]
    payload = {"to": "+260961000001", "body": "Dear ((name))", "personalisation": {"name": "x" * limit}}
    response = post_json(client, service, "/v1/messages", payload)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "message_too_long"
    assert error["details"] == {"field": "personalisation", "length": limit + 5, "limit": limit}
    assert count_rows(app) == (0, 0)


def test_a_personalised_message_at_the_limit_is_accepted(client, service, app):
    limit = app.config["HERALD_MAX_BODY_CHARS"]
    payload = {"to": "+260961000001", "body": "Dear ((name))", "personalisation": {"name": "x" * (limit - 5)}}
    assert post_json(client, service, "/v1/messages", payload).status_code == 202
    assert count_rows(app) == (0, 1)


def test_an_unhashable_priority_is_422_not_500(client, service, app):
    for priority in (["asap"], {"a": 1}):
        response = post_json(client, service, "/v1/messages", {"to": "+260961000001", "body": "x", "priority": priority})
        assert response.status_code == 422 and response.json["error"]["details"]["field"] == "priority"
    assert count_rows(app) == (0, 0)
