"""Bearer keys: every 401 says how to authenticate, and the audit log names a key without its secret."""
from __future__ import annotations

import uuid

import pytest
from herald_testing import post_json, recipients, sms
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey, AuditEntry

CALLS = [("get", "/v1/broadcasts"), ("post", "/v1/broadcasts"), ("get", f"/v1/broadcasts/{uuid.uuid4()}"),
         ("post", f"/v1/broadcasts/{uuid.uuid4()}/pause"), ("post", "/v1/messages"), ("get", "/v1/messages/1"),
         ("get", "/v1/dead-letters"), ("post", "/v1/dead-letters/1/requeue"), ("get", "/v1/quotas")]


@pytest.mark.parametrize("method,path", CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer hk_unknown", "Basic dXNlcjpwYXNz", "Bearer "])
def test_every_401_names_the_bearer_scheme(client, service, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="herald"'
    assert response.json["error"]["code"] == "unauthorized"


def test_the_audit_log_names_the_key_by_id_and_name_not_its_secret(client, service, app):
    created = post_json(client, service, "/v1/broadcasts", sms(recipients(2))).json
    client.post(f"/v1/broadcasts/{created['id']}/pause", headers=service.headers)
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        actors = set(db.session.scalars(select(AuditEntry.actor)))
    assert actors == {f"api_key:{key.id}:{key.name}"}
    secret = service.key.removeprefix("hk_")
    for actor in actors:
        assert not any(secret[i:i + 4] in actor for i in range(len(secret) - 3))
    audit = client.get(f"/v1/broadcasts/{created['id']}/audit", headers=service.headers).json["audit"]
    assert {entry["actor"] for entry in audit} == actors
