"""SMPP receipts into delivery_events: the sink the SMPP adapter's on_receipts is wired to."""
from __future__ import annotations

from smpp_testing import poll_until, running_smsc
from sqlalchemy import select

from app.extensions import db
from app.models import DeliveryEvent
from app.services.reports.smpp_receipts import receipt_sink
from providers.base import DeliveryReport, OutboundMessage
from providers.smpp import SMPPTransceiver


def stored(app) -> list[DeliveryEvent]:
    """Every stored delivery event."""
    with app.app_context():
        return list(db.session.scalars(select(DeliveryEvent).order_by(DeliveryEvent.id)))


def test_a_batch_is_stored_once_without_nul_characters(app, clean):
    sink = receipt_sink(app, "smpp_mtn")
    report = DeliveryReport("abc", "delivered", "DELIVRD", raw={"short_message": "id:abc stat:DELIVRD\x00"})

    sink([report])
    sink([report])

    rows = stored(app)
    assert [(r.provider, r.provider_message_id, r.status) for r in rows] == [("smpp_mtn", "abc", "delivered")]
    assert "\x00" not in str(rows[0].payload)


def test_receipts_from_the_sandbox_smsc_reach_delivery_events(app, clean):
    with running_smsc() as smsc:
        smsc.reset()
        adapter = SMPPTransceiver(**smsc.settings(on_receipts=receipt_sink(app, "smpp")))
        try:
            accepted = adapter.send(OutboundMessage(1, "+260971234567", "Rain expected", ""))
            assert poll_until(lambda: stored(app), 5.0)
            assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 1, 5.0)
        finally:
            adapter.close()
    assert [(r.provider_message_id, r.status) for r in stored(app)] == [(accepted.provider_message_id, "delivered")]
