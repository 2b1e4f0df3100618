"""Lifecycle bodies (pause, resume, cancel): no body or {} is fine; anything else must be {"reason": str}."""
from __future__ import annotations

import pytest
from herald_testing import post_json, recipients, sms
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Broadcast
from app.services.intake.broadcast_request import MAX_REASON_CHARS


def running_broadcast(client, service) -> str:
    """A fresh running broadcast's id."""
    response = post_json(client, service, "/v1/broadcasts", sms(recipients(2)))
    assert response.status_code == 202
    return response.json["id"]


def state(app, broadcast_id: str) -> tuple[str, list[str]]:
    """(status, audit actions) of a broadcast."""
    with app.app_context():
        status = db.session.get(Broadcast, broadcast_id).status
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.broadcast_id == broadcast_id)))
    return status, actions


@pytest.mark.parametrize("verb", ["pause", "cancel"])
@pytest.mark.parametrize("body,status,field", [
    ("[1]", 400, "body"),
    ('"x"', 400, "body"),
    ("{not json", 400, "body"),
    ('{"reason": {"a": 1}}', 422, "reason"),
    ('{"reason": 7}', 422, "reason"),
    ('{"reason": "%s"}' % ("r" * (MAX_REASON_CHARS + 1)), 422, "reason"),
    ('{"reason": "late\\u0000"}', 400, "reason"),
])
def test_a_bad_lifecycle_body_is_refused_and_moves_nothing(client, service, app, verb, body, status, field):
    broadcast_id = running_broadcast(client, service)
    response = post_json(client, service, f"/v1/broadcasts/{broadcast_id}/{verb}", body)
    assert response.status_code == status, response.json
    assert response.json["error"]["details"]["field"] == field
    assert state(app, broadcast_id) == ("running", ["create"])


@pytest.mark.parametrize("body", [None, "{}", '{"reason": null}', "  "])
def test_no_body_or_an_empty_object_still_pauses(client, service, app, body):
    broadcast_id = running_broadcast(client, service)
    if body is None:
        response = client.post(f"/v1/broadcasts/{broadcast_id}/pause", headers=service.headers)
    else:
        response = post_json(client, service, f"/v1/broadcasts/{broadcast_id}/pause", body)
    assert response.status_code == 200, response.json
    assert state(app, broadcast_id) == ("paused", ["create", "pause"])


def test_a_reason_is_kept_in_the_audit_log(client, service, app):
    broadcast_id = running_broadcast(client, service)
    response = post_json(client, service, f"/v1/broadcasts/{broadcast_id}/pause", {"reason": "wrong district"})
    assert response.status_code == 200
    audit = client.get(f"/v1/broadcasts/{broadcast_id}/audit", headers=service.headers).json["audit"]
    assert audit[-1]["reason"] == "wrong district"
