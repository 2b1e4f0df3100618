"""The providers Herald can send through, built by name from settings the caller supplies."""
from __future__ import annotations

import inspect
import json
import os
import threading
from typing import Mapping

from providers.africastalking import AfricasTalkingSMS
from providers.base import Provider, ProviderConfigError
from providers.infobip import InfobipSMS
from providers.settings_schema import check_settings
from providers.smpp import SMPPTransceiver
from providers.smtp import SMTPEmail
from providers.twilio import TwilioSMS

# Explicit on purpose: adding a gateway is a reviewed one-line change here, never a scan.
PROVIDER_CLASSES: dict[str, type[Provider]] = {
    "africastalking": AfricasTalkingSMS,
    "infobip": InfobipSMS,
    "smpp": SMPPTransceiver,
    "smtp": SMTPEmail,
    "twilio": TwilioSMS,
}

_instances: dict[str, Provider] = {}
_instances_lock = threading.Lock()


def _reset_lock_after_fork() -> None:
    """Give a forked child its own unlocked cache lock."""
    global _instances_lock
    _instances_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def provider_class(name: str) -> type[Provider]:
    """The adapter class registered under `name`, or ProviderConfigError naming the known ones."""
    try:
        return PROVIDER_CLASSES[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_CLASSES))
        raise ProviderConfigError(f"unknown provider {name!r}; known providers: {known}") from None


def build_provider(name: str, settings: Mapping[str, object]) -> Provider:
    """A new adapter instance for `name`, configured from `settings`."""
    cls = provider_class(name)
    _reject_unknown_settings(name, cls, settings)
    return cls(**dict(settings))


def build_account(account: str, provider: str, settings: Mapping[str, object]) -> Provider:
    """A new adapter for one named account; ProviderConfigError names the account and the setting."""
    cls = provider_class(provider)
    return cls(**check_settings(account, provider, cls.settings_schema, settings))


def check_account(account: str, provider: str, settings: Mapping[str, object]) -> None:
    """Refuse an account whose provider is unknown or whose settings are missing or mistyped."""
    try:
        build_account(account, provider, settings)
    except ProviderConfigError as exc:
        message = str(exc)
        raise ProviderConfigError(message if account in message else f"account {account!r}: {message}") from None


def get_provider(name: str, settings: Mapping[str, object]) -> Provider:
    """The process's shared adapter for `name`; `settings` only matter on the first call."""
    return _cached(name, lambda: build_provider(name, settings))


def get_account(account: str, provider: str, settings: Mapping[str, object]) -> Provider:
    """The process's shared adapter for one named account and these exact settings."""
    # The settings are part of the key: two apps in one process (tests, a CLI beside a worker)
    # may configure one account name differently, and must never share an adapter.
    key = f"{account}\0{provider}\0{json.dumps(settings, sort_keys=True, default=str)}"
    return _cached(key, lambda: build_account(account, provider, settings))


def _cached(key: str, build) -> Provider:
    """The adapter cached under `key`, built once however many threads ask; failures are not cached."""
    provider = _instances.get(key)
    if provider is not None:
        return provider
    with _instances_lock:
        provider = _instances.get(key)
        if provider is None:
            provider = build()
            _instances[key] = provider
        return provider


def clear_provider_cache() -> None:
    """Forget every cached adapter, closing the ones that hold connections."""
    with _instances_lock:
        providers = list(_instances.values())
        _instances.clear()
    for provider in providers:
        close = getattr(provider, "close", None)
        if callable(close):
            close()


def _reject_unknown_settings(name: str, cls: type[Provider], settings: Mapping[str, object]) -> None:
    """Name misspelt settings instead of letting them surface as a bare TypeError."""
    accepted = _keyword_names(cls)
    unknown = sorted(str(key) for key in settings if key not in accepted)
    if unknown:
        raise ProviderConfigError(
            f"provider {name!r} does not take setting(s) {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
        )


def _keyword_names(cls: type[Provider]) -> frozenset[str]:
    """The keyword arguments an adapter's constructor accepts."""
    parameters = inspect.signature(cls).parameters.values()
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(p.name for p in parameters if p.kind in kinds)
