"""An SMPP account's settings: what it takes, and how each value is checked (ProviderConfigError names it)."""
from __future__ import annotations

from providers.base import ProviderConfigError
from providers.settings_schema import Setting

# What an SMPP account takes (checked at startup by providers.settings_schema).
SETTINGS = (
    Setting("host", str, required=True, help="the SMSC's address"),
    Setting("port", int, default=2775, help="the SMSC's SMPP port"),
    Setting("system_id", str, required=True, help="the bind's system_id"),
    Setting("password", str, required=True, help="the bind's password"),
    Setting("system_type", str, default="", help="system_type, if the SMSC wants one"),
    Setting("source_addr", str, default="", help="sender address"),
    Setting("window_size", int, default=10, help="submit_sm outstanding at once on the bind"),
    Setting("max_bulk_recipients", int, default=500, help="messages one send_bulk may carry"),
    Setting("connect_timeout", float, default=3.0, help="seconds to connect and bind"),
    Setting("response_timeout", float, default=10.0, help="seconds to wait for a submit_sm_resp"),
    Setting("enquire_link_s", float, default=30.0, help="idle seconds before an enquire_link"),
    Setting("reconnect_min_s", float, default=0.5, help="first rebind backoff"),
    Setting("reconnect_max_s", float, default=30.0, help="longest rebind backoff"),
    Setting("throttle_retry_after_s", float, default=1.0, help="wait after ESME_RTHROTTLED"),
    Setting("receipt_queue", int, default=1000, help="deliver_sm waiting to be stored before more are refused"),
    Setting("receipt_per_part", bool, default=True,
            help="the SMSC sends a receipt for every part of a long message (false: one, under the first part's id)"),
)


def text(name: str, value: object) -> str:
    """A required, non-empty string setting."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ProviderConfigError(f"smpp: {name} is required")
    return text


def count(name: str, value: object) -> int:
    """A positive integer setting."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"smpp: {name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ProviderConfigError(f"smpp: {name} must be at least 1, got {number}")
    return number


def flag(name: str, value: object) -> bool:
    """A true/false setting (a bool, or its spelling in an environment variable)."""
    if isinstance(value, bool):
        return value
    spelled = str(value).strip().lower()
    if spelled not in ("true", "false", "1", "0", "yes", "no"):
        raise ProviderConfigError(f"smpp: {name} must be true or false, got {value!r}")
    return spelled in ("true", "1", "yes")


def seconds(name: str, value: object) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"smpp: {name} must be a number, got {value!r}") from None
    if not 0 < seconds < 86_400:
        raise ProviderConfigError(f"smpp: {name} must be between 0 and 86400 seconds, got {value!r}")
    return seconds
