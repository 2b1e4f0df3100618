"""Path ids beyond PostgreSQL's bigint name nothing: 404, not an overflowing query."""
from __future__ import annotations

import pytest

from app.api.params import BIGINT_MAX


@pytest.mark.parametrize("method,path", [
    ("get", "/v1/messages/{}"), ("post", "/v1/dead-letters/{}/requeue"), ("post", "/v1/dead-letters/{}/discard")])
@pytest.mark.parametrize("number", [BIGINT_MAX, BIGINT_MAX + 1, 10**30])
def test_ids_beyond_bigint_are_404(client, service, method, path, number):
    response = getattr(client, method)(path.format(number), headers=service.headers)
    assert response.status_code == 404
    assert "error" in response.json


# A URL decodes bad UTF-8 to U+FFFD, so only a NUL (%00) can reach a query unstorable.
@pytest.mark.parametrize("method,path", [
    ("get", "/v1/contacts/a%00b"), ("patch", "/v1/contacts/a%00b"), ("delete", "/v1/contacts/a%00b"),
    ("get", "/v1/segments/a%00b"), ("delete", "/v1/segments/a%00b"), ("get", "/v1/segments/a%00b/count"),
    ("get", "/v1/contacts/%ED%A0%80"), ("get", "/v1/segments/%ED%A0%80"),
])
def test_a_path_name_postgresql_cannot_hold_names_nothing(client, service, method, path):
    response = client.open(path, method=method, json={"language": "en"}, headers=service.headers)
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("query,field", [("channel=sms%00", "channel"), ("address=%2B260%00", "address"),
                                         ("after=%00", "after")])
def test_a_text_query_parameter_with_a_nul_is_400_naming_it(client, service, query, field):
    response = client.get(f"/v1/opt-outs?{query}", headers=service.headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["details"]["field"] == field
