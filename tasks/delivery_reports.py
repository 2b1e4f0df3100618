"""Applying stored delivery reports to messages, in bulk."""
from __future__ import annotations

import time

from celery import shared_task
from flask import current_app

from app.services import delivery_reports

# One run stops after this long; the next wake-up or beat carries on.
_RUN_SECONDS = 20.0


@shared_task(name="tasks.delivery_reports.apply_delivery_reports")
def apply_delivery_reports() -> int:
    """Apply unapplied reports in chunks until none are left or time is up."""
    chunk = current_app.config["HERALD_REPORT_BATCH"]
    stop_at = time.monotonic() + _RUN_SECONDS
    applied = 0
    while time.monotonic() < stop_at:
        done = delivery_reports.apply_pending_reports(chunk)
        applied += done
        if done < chunk:
            break
    return applied
