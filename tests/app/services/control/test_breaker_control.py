"""An operator closes any account's breaker with one call (API or CLI), audited; an unknown account is 404."""
from __future__ import annotations

from herald_testing import recipients
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Broadcast
from app.services.sending import breaker
from providers.base import GatewayRejected

ACCOUNT = "africastalking"


def reject_twice(app) -> None:
    """Open the account's breaker gateway_rejected, as two refused requests do."""
    with app.app_context():
        for _ in range(2):
            breaker.observe(ACCOUNT, [GatewayRejected("gateway_auth")])


def audit_rows(app) -> list[tuple]:
    """(service, broadcast, actor kind, action, reason) of every audit row, in order."""
    with app.app_context():
        rows = db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        return [(r.service_id, r.broadcast_id and str(r.broadcast_id), r.actor.split(":")[0], r.action, r.reason)
                for r in rows]


def test_one_call_closes_a_rejected_breaker_and_resumes_what_it_paused(app, client, service, clean):
    breaker.forget_local()
    started = client.post("/v1/broadcasts", headers=service.headers,
                          json={"channel": "sms", "body": "hello", "recipients": recipients(3)})
    broadcast_id = started.json["id"]
    reject_twice(app)
    with app.app_context():
        assert db.session.get(Broadcast, broadcast_id).paused_reason == "gateway_rejected"
    response = client.post(f"/v1/accounts/{ACCOUNT}/breaker/close", headers=service.headers)
    assert response.status_code == 200, response.json
    assert response.json == {"account": ACCOUNT, "was_open": True, "reason": "gateway_rejected",
                             "resumed": [broadcast_id]}
    with app.app_context():
        assert breaker.open_reason(ACCOUNT, max_age=0) is None
        assert db.session.get(Broadcast, broadcast_id).status == "running"
    assert audit_rows(app)[-2:] == [
        (service.service_id, None, "api_key", "close_breaker", "gateway_rejected"),
        (service.service_id, broadcast_id, "api_key", "resume", f"circuit breaker of {ACCOUNT} closed by an operator")]


def test_an_unknown_account_is_404_naming_it_and_nothing_changes(app, client, service, clean):
    reject_twice(app)
    before = audit_rows(app)
    response = client.post("/v1/accounts/nosuch/breaker/close", headers=service.headers)
    assert response.status_code == 404
    assert response.json["error"]["details"] == {"account": "nosuch"}
    assert audit_rows(app) == before
    with app.app_context():
        assert breaker.open_reason(ACCOUNT, max_age=0) == "gateway_rejected"
    assert client.post(f"/v1/accounts/{ACCOUNT}/breaker/close").status_code == 401


def test_the_cli_closes_a_breaker_audited_with_no_service(app, clean):
    reject_twice(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["herald", "close-breaker", ACCOUNT])
    assert result.exit_code == 0, result.output
    assert "was open (gateway_rejected)" in result.output
    assert audit_rows(app)[-1] == (None, None, "cli", "close_breaker", "gateway_rejected")
    with app.app_context():
        assert breaker.open_reason(ACCOUNT, max_age=0) is None
    unknown = runner.invoke(args=["herald", "close-breaker", "nosuch"])
    assert unknown.exit_code != 0 and "'nosuch'" in unknown.output
