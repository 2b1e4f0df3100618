"""The configured gateway adapters, built once per process from app config."""
from __future__ import annotations

from flask import current_app

from app.config import provider_settings
from providers.base import Provider
from providers.registry import get_provider


def gateway(name: str) -> Provider:
    """The adapter for a provider name, configured from this app's settings."""
    return get_provider(name, provider_settings(current_app.config))


def resend_safe_providers() -> set[str]:
    """Providers whose gateway deduplicates on our idempotency key, so a resend is safe."""
    name = current_app.config["HERALD_SMS_PROVIDER"]
    return {name} if gateway(name).honours_idempotency_key else set()
