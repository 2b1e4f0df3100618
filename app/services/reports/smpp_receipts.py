"""Where an SMPP bind's delivery receipts go: the on_receipts callback Herald gives the SMPP adapter.

The adapter calls it on a bind's receipt-storing thread (never the thread reading submit_sm_resp)
with every receipt queued since its last call; the receipts are acknowledged to the SMSC only
after it returns, so raising makes the SMSC deliver them again.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from flask import Flask

from app.queueing import enqueue
from app.services.reports import delivery_reports
from providers.base import DeliveryReport

APPLY_TASK = "tasks.delivery_reports.apply_delivery_reports"


def receipt_sink(app: Flask, provider: str) -> Callable[[list[DeliveryReport]], None]:
    """A callback storing each batch of receipts under `provider` in one statement, then waking the applier."""

    def store(reports: list[DeliveryReport]) -> None:
        """Store one batch inside the app's context; errors propagate so the SMSC resends."""
        with app.app_context():
            # The same wake-up as the webhook route: every report source shares one applier run.
            if delivery_reports.store_reports(provider, [_storable(r) for r in reports]):
                if delivery_reports.claim_wake_up():
                    enqueue(app, APPLY_TASK)

    return store


def _storable(report: DeliveryReport) -> DeliveryReport:
    """The report without NUL characters, which PostgreSQL text and jsonb refuse (SMPP strings may carry them)."""
    raw = {key: value.replace("\x00", "") for key, value in report.raw.items()}
    return replace(report, provider_message_id=report.provider_message_id.replace("\x00", ""), raw=raw)
