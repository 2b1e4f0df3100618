"""message_state against real PostgreSQL: giving back claims that were never sent."""
from __future__ import annotations

from app.extensions import db
from app.models import Message
from app.services import message_state


def test_a_released_transactional_claim_goes_back_to_pending_with_its_attempt(app, client, service):
    response = client.post("/v1/messages", headers=service.headers, json={"to": "+260971234567", "body": "1234"})
    assert response.status_code == 202
    message_id = response.json["id"]
    with app.app_context():
        claim = message_state.claim_transactional(message_id, lease_seconds=30)
        assert [row.id for row in claim.rows] == [message_id]
        outcome = message_state.BatchOutcome(claim.token, released=[message_id])
        message_state.record_outcome(outcome)
        row = db.session.get(Message, message_id)
        assert (row.status, row.attempts, row.claim_token) == ("pending", 0, None)
