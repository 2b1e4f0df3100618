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
