"""Sandbox settings: read from the environment once, changeable at runtime over HTTP."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field


@dataclass
class Settings:
    """Everything that shapes the sandbox's behaviour; mutated in place by /_sandbox/config."""

    # AT checks the account username sent in every form.
    username: str = "sandbox"
    # AT checks the apiKey header; the sandbox needs a known one.
    api_key: str = "sandbox-key"
    # Real gateways take time; 0 keeps benchmarks about Herald, not the fake.
    latency_ms: float = 0.0
    # Chance a single recipient gets a retryable 500 entry, to exercise retries.
    temp_failure_rate: float = 0.0
    # Chance the whole request answers 503, to exercise request-level retries.
    http_error_rate: float = 0.0
    # Recipients per second allowed (token bucket); 0 means no limit.
    rate_limit_per_s: float = 0.0
    # Retry-After a 429 announces, in seconds; 0 means the bucket's own wait (a gateway asking for longer).
    retry_after_s: float = 0.0
    # Chance a request answers 429 whatever the rate (a gateway's own congestion), with retry_after_s.
    rate_limited_rate: float = 0.0
    # Whether a repeated Idempotency-Key replays the first answer (Herald's extension).
    honour_idempotency: bool = True
    # Where delivery reports go; empty means none are sent.
    dlr_url: str = ""
    # How long after acceptance a delivery report is posted.
    dlr_delay_ms: float = 500.0
    # Fixed seed makes the random failure rates reproducible; None means random.
    seed: int | None = None
    # AT prefixes every cost with the account's currency.
    currency: str = "ZMW"
    # The SMPP server's bind credentials (bind_transceiver system_id / password).
    smpp_system_id: str = "sandbox"
    smpp_password: str = "sandbox-pw"
    # submit_sm per second before the SMPP server answers ESME_RTHROTTLED; 0 means no limit.
    smpp_throttle_per_s: float = 0.0
    # Chance a submit_sm is answered ESME_RSYSERR, to exercise temporary errors.
    smpp_syserr_rate: float = 0.0
    # Close the bind, unanswered, on every Nth submit_sm; 0 means never.
    smpp_drop_every_n: int = 0
    # Close the bind, unanswered, on the next submit_sm, then clear itself.
    smpp_drop_once: bool = False
    # Counts down one per submit_sm on any bind; the one that reaches 0 cuts every bind at once
    # (it and every answer held back by latency unsent), as an SMSC restart would; 0 means never.
    smpp_cut_after_n: int = 0
    # After such a cut, seconds the SMPP port refuses connections, so rebinds must back off; 0: none.
    smpp_cut_refuse_s: float = 0.0
    # Seconds every bind_transceiver is answered ESME_RBINDFAIL (and closed), counted from when this is
    # set and again from every cut (smpp_cut_after_n), as an SMSC coming back up does; 0 means never.
    smpp_bindfail_s: float = 0.0
    # Whether delivery receipts (deliver_sm) go back over the bind, after dlr_delay_ms.
    smpp_receipts: bool = True
    # The SMTP server's AUTH credentials (PLAIN / LOGIN); an empty user name means every AUTH fails.
    smtp_username: str = ""
    smtp_password: str = ""
    # Whether MAIL FROM needs AUTH first (530 otherwise), for connections opened from then on.
    smtp_auth_required: bool = False
    # Chance a RCPT TO is answered 451 (temporary), and 550 (permanent), per recipient.
    smtp_rcpt_temp_rate: float = 0.0
    smtp_rcpt_perm_rate: float = 0.0
    # Addresses whose RCPT TO always gets this reply ("550 5.1.1 ...", "450 4.2.1 ...", "452 ...").
    smtp_address_replies: dict = dataclass_field(default_factory=dict)
    # Chance a message is taken (and recorded) and the connection then cut before the 250 goes out.
    smtp_drop_after_data_rate: float = 0.0
    # Accepted messages per connection before the next MAIL FROM gets 421 and a close; 0 = no limit.
    smtp_max_messages_per_connection: int = 0
    # Where SendGrid-shaped, signed Event Webhook posts go (after dlr_delay_ms); empty means none.
    smtp_events_url: str = ""
    # Until this Unix time every Africa's Talking request answers 401 (refuse_auth_for_s), as a
    # gateway does while an account's key is being rotated; 0 means never.
    auth_refused_until: float = 0.0

    def auth_refused(self) -> bool:
        """True while the gateway refuses every key."""
        return time.time() < self.auth_refused_until

    def public(self) -> dict:
        """The settings as JSON-ready data, without the API key."""
        data = asdict(self)
        del data["api_key"]
        del data["smpp_password"]
        del data["smtp_password"]
        return data


def _flag(raw: str) -> bool:
    """Read an environment flag the way shells usually spell them."""
    return raw.strip().lower() not in ("0", "false", "no", "off", "")


def _optional_int(raw: str) -> int | None:
    """An integer, or None for an empty string."""
    return int(raw) if raw.strip() else None


# Environment variable -> (field, parser); defaults live on the dataclass.
_ENVIRONMENT = {
    "SANDBOX_USERNAME": ("username", str),
    "SANDBOX_API_KEY": ("api_key", str),
    "SANDBOX_LATENCY_MS": ("latency_ms", float),
    "SANDBOX_TEMP_FAILURE_RATE": ("temp_failure_rate", float),
    "SANDBOX_HTTP_ERROR_RATE": ("http_error_rate", float),
    "SANDBOX_RATE_LIMIT_PER_S": ("rate_limit_per_s", float),
    "SANDBOX_HONOUR_IDEMPOTENCY": ("honour_idempotency", _flag),
    "SANDBOX_DLR_URL": ("dlr_url", str),
    "SANDBOX_DLR_DELAY_MS": ("dlr_delay_ms", float),
    "SANDBOX_SEED": ("seed", _optional_int),
    "SANDBOX_CURRENCY": ("currency", str),
    "SANDBOX_SMPP_SYSTEM_ID": ("smpp_system_id", str),
    "SANDBOX_SMPP_PASSWORD": ("smpp_password", str),
    "SANDBOX_SMTP_USERNAME": ("smtp_username", str),
    "SANDBOX_SMTP_PASSWORD": ("smtp_password", str),
}


def from_environment(environ: dict | None = None) -> Settings:
    """Build settings from SANDBOX_* variables, defaults for the rest."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    for variable, (field, parse) in _ENVIRONMENT.items():
        if variable in environ:
            setattr(settings, field, parse(environ[variable]))
    return settings


class ConfigError(ValueError):
    """A runtime change names an unknown setting or gives it a bad value."""


def _number(value, name: str, upper: float | None = None) -> float:
    """A non-negative number, at most `upper` when given; bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number")
    # json.loads accepts NaN and Infinity, which would slip past range checks.
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite")
    if value < 0:
        raise ConfigError(f"{name} must be >= 0")
    if upper is not None and value > upper:
        raise ConfigError(f"{name} must be between 0 and {upper}")
    return float(value)


def _rate(value, name: str) -> float:
    """A probability between 0 and 1."""
    return _number(value, name, upper=1.0)


def _duration(value, name: str) -> float:
    """A positive number of seconds, at most an hour (an outage longer than a test is a mistake)."""
    seconds = _number(value, name, upper=3600.0)
    if seconds <= 0:
        raise ConfigError(f"{name} must be > 0")
    return seconds


def _boolean(value, name: str) -> bool:
    """A JSON boolean (0 and 1 are accepted too, as the environment spells them)."""
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ConfigError(f"{name} must be a boolean")


def _whole(value, name: str) -> int:
    """A non-negative integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer")
    return value


def _short_wait(value, name: str) -> float:
    """Zero or a number of seconds, at most a minute (a test waits through it)."""
    return _number(value, name, upper=60.0)


def _url(value, name: str) -> str:
    """Empty (reports off) or an http(s) URL."""
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be empty or an http(s) URL")
    return value


def _smtp_reply(value, name: str) -> str:
    """An SMTP refusal a RCPT TO can get: a 4xx or 5xx code, a space, printable ASCII text."""
    if not (isinstance(value, str) and len(value) <= 200 and value.isascii() and value.isprintable()
            and value[:3].isdigit() and value[0] in "45" and value[3:4] == " "):
        raise ConfigError(f"{name} values must be SMTP refusals like '550 5.1.1 No such user'")
    return value


def _address_replies(value, name: str) -> dict:
    """A map of addresses (compared in lower case) to the refusal each always gets."""
    if not isinstance(value, dict) or len(value) > 10_000:
        raise ConfigError(f"{name} must be an object of at most 10000 addresses")
    if not all(isinstance(address, str) and "@" in address for address in value):
        raise ConfigError(f"{name} keys must be email addresses")
    return {address.lower(): _smtp_reply(reply, name) for address, reply in value.items()}


OUTAGE_FIELD = "down_for_s"
REFUSE_AUTH_FIELD = "refuse_auth_for_s"

# The settings a running sandbox lets callers change, with their validators.
RUNTIME_FIELDS = {
    "latency_ms": _number,
    "temp_failure_rate": _rate,
    "http_error_rate": _rate,
    "rate_limit_per_s": _number,
    "retry_after_s": _number,
    "rate_limited_rate": _rate,
    "honour_idempotency": _boolean,
    "dlr_url": _url,
    "dlr_delay_ms": _number,
    "smpp_throttle_per_s": _number,
    "smpp_syserr_rate": _rate,
    "smpp_drop_every_n": _whole,
    "smpp_drop_once": _boolean,
    "smpp_cut_after_n": _whole,
    "smpp_cut_refuse_s": _short_wait,
    "smpp_bindfail_s": _short_wait,
    "smpp_receipts": _boolean,
    "smtp_auth_required": _boolean,
    "smtp_rcpt_temp_rate": _rate,
    "smtp_rcpt_perm_rate": _rate,
    "smtp_address_replies": _address_replies,
    "smtp_drop_after_data_rate": _rate,
    "smtp_max_messages_per_connection": _whole,
    "smtp_events_url": _url,
    # Not a setting but an action: refuse connections for that many seconds, then listen again.
    OUTAGE_FIELD: _duration,
    # An action too: answer 401 to every Africa's Talking request for that many seconds.
    REFUSE_AUTH_FIELD: _duration,
}


def validate_changes(changes) -> dict:
    """Check a runtime change set; return it with normalised values or raise ConfigError."""
    if not isinstance(changes, dict):
        raise ConfigError("body must be a JSON object")
    checked = {}
    for name, value in changes.items():
        validator = RUNTIME_FIELDS.get(name)
        if validator is None:
            raise ConfigError(f"unknown setting: {name}")
        checked[name] = validator(value, name)
    return checked


def apply_changes(settings: Settings, checked: dict) -> None:
    """Write already validated changes onto the live settings."""
    for name, value in checked.items():
        setattr(settings, name, value)
