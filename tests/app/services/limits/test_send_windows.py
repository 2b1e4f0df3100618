"""Sending windows: open and closed times, windows across midnight, next opening."""
from __future__ import annotations

from datetime import datetime, timezone

from app.services.limits.send_windows import is_open, next_opening

DAY = {"start": "08:00", "end": "20:00", "timezone": "Africa/Lusaka"}
NIGHT = {"start": "22:00", "end": "06:00", "timezone": "Africa/Lusaka"}


def utc(hour: int, minute: int = 0) -> datetime:
    """A UTC time on one fixed day (Lusaka is UTC+2)."""
    return datetime(2026, 11, 23, hour, minute, tzinfo=timezone.utc)


def test_day_window_in_recipient_local_time():
    assert not is_open(DAY, utc(5, 59))
    assert is_open(DAY, utc(6, 0))
    assert is_open(DAY, utc(17, 59))
    assert not is_open(DAY, utc(18, 0))
    assert is_open(None, utc(3))


def test_window_across_midnight():
    assert is_open(NIGHT, utc(20, 0)) and is_open(NIGHT, utc(3, 59))
    assert not is_open(NIGHT, utc(4, 0)) and not is_open(NIGHT, utc(19, 59))


def test_next_opening():
    assert next_opening(DAY, utc(19)) == datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    assert next_opening(DAY, utc(3)) == datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    assert next_opening(DAY, utc(12)) == utc(12)
