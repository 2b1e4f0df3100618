"""What an account of provider "smtp" takes, and the checks its constructor applies to each value.

Values come typed from providers.settings_schema (accounts) or as strings (build_provider from
the environment); both are accepted here, and anything else is a ProviderConfigError naming it.
"""
from __future__ import annotations

import math
import ssl

from providers.base import ProviderConfigError
from providers.settings_schema import Setting
from providers.smtp_session import SessionConfig

SETTINGS = (
    Setting("host", str, required=True, help="the SMTP server (relay or submission service)"),
    Setting("port", int, default=587, help="587 for submission with STARTTLS, 25 for relay"),
    Setting("username", str, default="", help="AUTH user; empty: no AUTH"),
    Setting("password", str, default="", help="AUTH password"),
    Setting("starttls", bool, default=True, help="require STARTTLS (certificate checked) before AUTH and mail"),
    Setting("tls_ca_file", str, default="", help="PEM CA bundle for the server's certificate; empty: the system's"),
    Setting("helo_name", str, default="", help="the name given in EHLO; empty: the From address's domain"),
    Setting("from_address", str, required=True, help="From address (and envelope sender unless return_path)"),
    Setting("from_name", str, default="", help="display name in From"),
    Setting("reply_to", str, default="", help="Reply-To address"),
    Setting("return_path", str, default="", help="envelope sender (MAIL FROM), where bounces go"),
    Setting("message_id_domain", str, default="", help="domain of the Message-IDs Herald makes; empty: From's"),
    Setting("connect_timeout", float, default=5.0, help="seconds to connect"),
    Setting("reply_timeout", float, default=30.0, help="seconds to wait for each reply"),
    Setting("data_timeout", float, default=60.0, help="seconds to wait for the reply to the message's final '.'"),
    Setting("max_messages_per_session", int, default=100, help="messages one session carries before QUIT"),
    Setting("max_session_age_s", float, default=60.0, help="seconds a session stays open at most"),
    Setting("max_idle_s", float, default=15.0, help="seconds a session may wait unused before it is closed"),
    Setting("max_idle_sessions", int, default=8, help="idle sessions kept per process"),
    Setting("dkim_selector", str, default="", help="DKIM selector (with dkim_domain and dkim_private_key_path)"),
    Setting("dkim_domain", str, default="", help="DKIM signing domain (d=)"),
    Setting("dkim_private_key_path", str, default="", help="PEM RSA private key file for DKIM"),
    Setting("event_public_key", str, default="", help="SendGrid Event Webhook verification key (base64 DER)"),
    Setting("event_max_age_s", float, default=0.0, help="refuse events signed longer ago than this; 0: no limit"),
    Setting("sendgrid_smtpapi", bool, default=False,
            help="name the Message-ID in SendGrid's X-SMTPAPI unique_args, so every event carries it"),
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def text(name: str, value: object, required: bool = False) -> str:
    """A string setting, stripped; ProviderConfigError when required and empty."""
    found = "" if value is None else str(value).strip()
    if required and not found:
        raise ProviderConfigError(f"smtp: {name} is required")
    return found


def flag(name: str, value: object) -> bool:
    """A boolean setting; a string must spell one."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in _TRUE | _FALSE:
        raise ProviderConfigError(f"smtp: {name} must be true or false, got {value!r}")
    return word in _TRUE


def count(name: str, value: object) -> int:
    """A positive integer setting."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"smtp: {name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ProviderConfigError(f"smtp: {name} must be at least 1, got {number}")
    return number


def seconds(name: str, value: object, zero_allowed: bool = False) -> float:
    """A finite number of seconds, above zero (or zero, where it means "off"), at most a day."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ProviderConfigError(f"smtp: {name} must be a number, got {value!r}") from None
    low_ok = number >= 0 if zero_allowed else number > 0
    if not (math.isfinite(number) and low_ok and number <= 86_400):
        raise ProviderConfigError(f"smtp: {name} must be between 0 and 86400 seconds, got {value!r}")
    return number


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context that checks the server's certificate and name (against `ca_file` if given)."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ProviderConfigError(f"smtp: cannot load tls_ca_file: {exc}") from None


def session_config(*, host: object, port: object, username: object, password: object, starttls: object,
                   tls_ca_file: object, helo_name: object, connect_timeout: object, reply_timeout: object,
                   data_timeout: object) -> SessionConfig:
    """How every session of the account is opened, each value checked."""
    user, secret = text("username", username), "" if password is None else str(password)
    if bool(user) != bool(secret):
        raise ProviderConfigError("smtp: username and password go together")
    use_tls = flag("starttls", starttls)
    return SessionConfig(
        host=text("host", host, required=True), port=count("port", port), helo_name=text("helo_name", helo_name),
        starttls=use_tls, tls_context=tls_context(text("tls_ca_file", tls_ca_file)) if use_tls else None,
        username=user, password=secret, connect_timeout=seconds("connect_timeout", connect_timeout),
        reply_timeout=seconds("reply_timeout", reply_timeout), data_timeout=seconds("data_timeout", data_timeout))
