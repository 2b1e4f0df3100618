"""Applying stored delivery reports to messages in bulk, and settling messages whose report never came."""
from __future__ import annotations

import time

from celery import shared_task
from flask import current_app

from app.services.reports import delivery_reports

# One run stops after this long; the next wake-up or beat carries on.
_RUN_SECONDS = 20.0
# Rows the unknown-delivery sweep moves per statement.
_SWEEP_CHUNK = 5000


@shared_task(name="tasks.delivery_reports.apply_delivery_reports")
def apply_delivery_reports() -> int:
    """Apply due reports in chunks until a chunk comes back short or time is up; return how many closed."""
    chunk = current_app.config["HERALD_REPORT_BATCH"]
    delivery_reports.release_wake_up()
    stop_at = time.monotonic() + _RUN_SECONDS
    closed = 0
    while time.monotonic() < stop_at:
        done = delivery_reports.apply_pending_reports(chunk)
        closed += done.closed
        if done.taken < chunk:
            break
    return closed


@shared_task(name="tasks.delivery_reports.mark_unknown_deliveries")
def mark_unknown_deliveries() -> int:
    """Move every sent message past the report timeout to unknown_delivery, in chunks, within the run time."""
    stop_at = time.monotonic() + _RUN_SECONDS
    moved = 0
    while time.monotonic() < stop_at:
        done = delivery_reports.mark_unknown_deliveries(_SWEEP_CHUNK)
        moved += done
        if done < _SWEEP_CHUNK:
            break
    return moved
