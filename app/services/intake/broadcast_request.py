"""Validation of a broadcast request's fields; recipients are judged in intake."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from app.errors import MalformedRequest, ValidationFailed
from app.services.channels import registry
from app.services.content.storable_text import check_text
from app.services.content.templates import compile_template
from app.services.limits.send_windows import parse_window
from providers.parts import transliterate

BROADCAST_PRIORITIES = {"normal"}
# No gateway account Herald speaks to allows more than this per second.
MAX_RATE_PER_SECOND = Decimal(10_000)
# The column keeps three decimals: anything smaller would be stored as a rate of 0.
MIN_RATE_PER_SECOND = Decimal("0.001")
# An operator's note on a pause, resume or cancel: a sentence or two for the audit log, not a document.
MAX_REASON_CHARS = 500
# A saved template's name, as opposed to a template text given inline (which has spaces or placeholders).
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


@dataclass(frozen=True)
class BroadcastSpec:
    """A validated broadcast request, minus its recipients."""

    channel: str
    body: str
    sender: str | None
    priority: str
    rate_limit_per_second: Decimal | None
    scheduled_for: datetime | None
    send_window: dict | None = None
    # The stored template version the body came from: {"name", "version", "language"}.
    template: dict | None = None
    transliterate: bool = False
    dry_run: bool = False

    @property
    def variants(self) -> dict[str, str] | None:
        """Language variants' texts by language, when the stored template has any."""
        found = (self.template or {}).get("variants")
        return {lang: v["body"] for lang, v in found.items()} if found else None


def _fail(field: str, message: str) -> ValidationFailed:
    """A 422 naming the field at fault."""
    return ValidationFailed(message, {"field": field})


def parse_channel(value: object) -> str:
    """A channel Herald knows and has a gateway for."""
    if not isinstance(value, str) or not value:
        raise _fail("channel", "channel is required and must be a string")
    if value not in registry.CHANNELS:
        raise _fail("channel", f"unknown channel {value!r}; known: {registry.known()}")
    if value not in registry.supported():
        raise ValidationFailed(f"channel {value!r} has no gateway configured; available: {registry.supported()}",
                               {"field": "channel"}, code="channel_unavailable")
    return value


def names_stored_template(payload: dict) -> bool:
    """True when `template` names a saved template rather than carrying the text inline."""
    value = payload.get("template")
    return "body" not in payload and isinstance(value, str) and bool(_TEMPLATE_NAME.match(value))


def parse_body(payload: dict, max_chars: int) -> str:
    """The message text (`body`, or `template` carrying the text inline), checked to compile."""
    field = "body" if "body" in payload else "template"
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, "body (or template) is required and must be a non-empty string")
    if len(value) > max_chars:
        raise _fail(field, f"body is {len(value)} characters; the limit is {max_chars}")
    compile_template(check_text(field, value), payload.get("channel") or registry.DEFAULT, field)
    return value


def parse_flag(payload: dict, field: str) -> bool:
    """An optional boolean field, false when absent."""
    value = payload.get(field, False)
    if type(value) is not bool:
        raise _fail(field, f"{field} must be true or false")
    return value


def parse_sender(value: object) -> str | None:
    """An optional alphanumeric sender id (11 characters at most, as carriers allow)."""
    if value is None:
        return None
    # isascii: str.isalnum() also accepts letters and digits of every other script, which carriers refuse.
    if not isinstance(value, str) or not (value.isascii() and value.isalnum()) or len(value) > 11:
        raise _fail("sender", "sender must be 1-11 ASCII letters or digits")
    return value


def parse_priority(value: object) -> str:
    """Broadcasts ride the bulk lane; one-off messages go to /v1/messages."""
    value = "normal" if value is None else value
    if not isinstance(value, str) or value not in BROADCAST_PRIORITIES:
        raise _fail("priority", "broadcasts use priority 'normal'; send one-off urgent messages to /v1/messages")
    return value


def parse_rate(value: object) -> Decimal | None:
    """An optional per-broadcast ceiling in messages per second."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail("rate_limit_per_second", "rate_limit_per_second must be a number")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise _fail("rate_limit_per_second", "rate_limit_per_second must be a number") from None
    if not rate.is_finite() or rate < MIN_RATE_PER_SECOND or rate > MAX_RATE_PER_SECOND:
        raise _fail("rate_limit_per_second",
                    f"rate_limit_per_second must be between {MIN_RATE_PER_SECOND} and {MAX_RATE_PER_SECOND}")
    return rate


def parse_schedule(value: object, now: datetime | None = None) -> datetime | None:
    """An optional ISO 8601 start time with a UTC offset, not in the past."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail("scheduled_for", "scheduled_for must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail("scheduled_for", f"scheduled_for {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise _fail("scheduled_for", "scheduled_for needs a UTC offset, e.g. 2026-11-23T08:00:00+02:00")
    if when < (now or datetime.now(timezone.utc)):
        raise ValidationFailed("scheduled_for is in the past", {"field": "scheduled_for"}, code="scheduled_in_past")
    return when


def parse_spec(payload: dict, max_chars: int, resolve_template: Callable | None = None) -> BroadcastSpec:
    """Validate every field but the recipients; `resolve_template(channel, name, version, language)`
    gives (body, reference) when `template` names a saved template."""
    channel, reference = parse_channel(payload.get("channel")), None
    if resolve_template is not None and names_stored_template(payload):
        body, reference = resolve_template(channel, payload["template"], payload.get("template_version"),
                                           payload.get("language"))
        payload = {**payload, "template": body}
    transliterate = parse_flag(payload, "transliterate")
    return BroadcastSpec(
        channel=channel,
        body=_transliterated(parse_body(payload, max_chars), transliterate),
        sender=parse_sender(payload.get("sender")),
        priority=parse_priority(payload.get("priority")),
        rate_limit_per_second=parse_rate(payload.get("rate_limit_per_second")),
        scheduled_for=parse_schedule(payload.get("scheduled_for")),
        send_window=parse_window(payload.get("send_window")),
        template=reference,
        transliterate=transliterate,
        dry_run=parse_flag(payload, "dry_run"),
    )


def _transliterated(body: str, wanted: bool) -> str:
    """The body with GSM-7 look-alikes when the operator asked for them."""
    return transliterate(body) if wanted else body


def parse_lifecycle(payload: object) -> str | None:
    """The optional `reason` of a pause/resume/cancel body: a string of at most MAX_REASON_CHARS."""
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise MalformedRequest("the body must be a JSON object like {\"reason\": \"...\"}", {"field": "body"})
    reason = payload.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise _fail("reason", "reason must be a string")
    if len(reason) > MAX_REASON_CHARS:
        raise _fail("reason", f"reason is {len(reason)} characters; the limit is {MAX_REASON_CHARS}")
    return check_text("reason", reason).strip() or None
