"""Africa's Talking adapter settings: checked constructor values and the constant parts of requests."""
from __future__ import annotations

import math
from urllib.parse import quote_plus

from providers.base import ProviderConfigError
from providers.settings_schema import Setting

MESSAGING_PATH = "/version1/messaging"
# AT's user-data endpoint: answers the account's balance, so it proves URL and credentials.
USER_PATH = "/version1/user"
# What an account of provider "africastalking" takes (HERALD_ACCOUNTS); defaults match the constructor's.
SETTINGS = (
    Setting("base_url", str, required=True, help="https://api.africastalking.com, or the sandbox"),
    Setting("username", str, required=True, help="the AT application's username"),
    Setting("api_key", str, required=True, help="the AT application's API key"),
    Setting("sender_id", str, help="alphanumeric sender id or short code; unset uses AT's default"),
    Setting("honours_idempotency_key", bool, default=False, help="true only for the sandbox"),
    Setting("max_bulk_recipients", int, default=100, help="recipients per bulk request; 1 = one per request"),
    Setting("connect_timeout", float, default=3.0, help="seconds to connect"),
    Setting("read_timeout", float, default=15.0, help="seconds to wait for an answer"),
    Setting("pool_maxsize", int, default=16, help="idle kept-alive connections per process"),
    Setting("webhook_secret", str, default="", help="secret of /webhooks/<account>/<secret>; AT does not sign"),
    Setting("proxy_url", str, default="", help="http(s) proxy; filled from HTTPS_PROXY/HTTP_PROXY"),
)
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def _required_text(name: str, value: object) -> str:
    """A non-empty string setting, or ProviderConfigError."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ProviderConfigError(f"africastalking: {name} is required")
    return text


def _as_bool(name: str, value: object) -> bool:
    """A boolean setting; strings must spell a boolean, since bool("false") is True."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ProviderConfigError(f"africastalking: {name} must be a boolean, got {value!r}")


def _as_count(name: str, value: object) -> int:
    """A positive integer setting."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"africastalking: {name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ProviderConfigError(f"africastalking: {name} must be at least 1, got {number}")
    return number


def _as_seconds(name: str, value: object) -> float:
    """A positive, finite number of seconds."""
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"africastalking: {name} must be a number, got {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ProviderConfigError(f"africastalking: {name} must be a positive number, got {value!r}")
    return seconds


def _constant_headers(api_key: str) -> dict[str, str]:
    """Headers every send request carries, built once."""
    return {**_auth_headers(api_key), "Content-Type": "application/x-www-form-urlencoded"}


def _auth_headers(api_key: str) -> dict[str, str]:
    """Headers every request to AT carries, sends and probes alike."""
    return {"apiKey": api_key, "Accept": "application/json", "User-Agent": "herald-africastalking/1"}


def _form_prefix(username: str, sender: str | None) -> str:
    """The form fields that do not change between requests, already encoded."""
    prefix = f"username={quote_plus(username)}&bulkSMSMode=1"
    if sender:
        prefix += f"&from={quote_plus(sender)}"
    return prefix
