"""Sending windows: a broadcast only sends between two local times of day (e.g. 08:00-20:00)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import ValidationFailed

FIELD = "send_window"


def _clock(value: object, name: str) -> str:
    """An HH:MM time of day."""
    try:
        return time.fromisoformat(value).strftime("%H:%M") if isinstance(value, str) else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str):
    """Reject a malformed window field."""
    raise ValidationFailed(f"{FIELD}.{name} must be a time of day like 08:00", {"field": f"{FIELD}.{name}"})


def parse_window(value: object) -> dict | None:
    """{"start": "08:00", "end": "20:00", "timezone": optional IANA zone}, validated."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed(f"{FIELD} must be an object with start and end", {"field": FIELD})
    start, end = _clock(value.get("start"), "start"), _clock(value.get("end"), "end")
    if start == end:
        raise ValidationFailed(f"{FIELD} start and end must differ", {"field": FIELD}, code="empty_send_window")
    zone = value.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValidationFailed(f"unknown time zone {zone!r}", {"field": f"{FIELD}.timezone"}) from None
    return {"start": start, "end": end, "timezone": zone}


def settle_zone(window: dict | None, zones: set[str]) -> dict | None:
    """Give a window without a zone the recipients' own zone; 422 if they span several."""
    if window is None or window["timezone"]:
        return window
    if len(zones) != 1:
        raise ValidationFailed(f"recipients span time zones {sorted(zones) or ['unknown']}; give {FIELD}.timezone",
                               {"field": f"{FIELD}.timezone"}, code="timezone_required")
    return {**window, "timezone": next(iter(zones))}


def is_open(window: dict | None, now: datetime | None = None) -> bool:
    """True when sending is allowed now (always, without a window)."""
    if not window:
        return True
    local = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(window["timezone"])).strftime("%H:%M")
    start, end = window["start"], window["end"]
    return start <= local < end if start < end else (local >= start or local < end)


def next_opening(window: dict, now: datetime | None = None) -> datetime:
    """When the window next opens (now, if it is open)."""
    now = now or datetime.now(timezone.utc)
    if is_open(window, now):
        return now
    zone = ZoneInfo(window["timezone"])
    local = now.astimezone(zone)
    opening = datetime.combine(local.date(), time.fromisoformat(window["start"]), zone)
    if opening <= local:
        opening += timedelta(days=1)
    return opening.astimezone(timezone.utc)
