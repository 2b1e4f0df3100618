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
