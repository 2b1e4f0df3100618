"""The configured gateway accounts, each adapter built once per process from app config."""
from __future__ import annotations

from flask import current_app

from app.services.reports import inbound, smpp_receipts
from providers.base import Provider, ProviderConfigError
from providers.registry import get_account


def accounts() -> dict[str, dict]:
    """Every configured account by name: {"provider", "settings"} (built once by app.config_checks.check_config)."""
    return current_app.config["HERALD_ACCOUNT_TABLE"]


def find_gateway(account: str) -> Provider | None:
    """The adapter of a named account, or None when no such account is configured."""
    entry = accounts().get(account)
    if entry is None:
        return None
    provider = get_account(account, entry["provider"], entry["settings"])
    if getattr(provider, "on_receipts", False) is None:
        # A bind-based gateway (SMPP) hands receipts to a callback instead of a webhook.
        provider.on_receipts = smpp_receipts.receipt_sink(current_app._get_current_object(), account)
    if getattr(provider, "on_inbound", False) is None:
        # ...and the texts people send to its numbers (STOP, START) to the inbound path.
        provider.on_inbound = inbound.bind_sink(current_app._get_current_object(), account, provider.channel)
    return provider


def gateway(account: str) -> Provider:
    """The adapter of a named account; ProviderConfigError when it is not configured."""
    provider = find_gateway(account)
    if provider is None:
        raise ProviderConfigError(f"no gateway account named {account!r}; accounts: {', '.join(sorted(accounts()))}")
    return provider


def resend_safe_providers() -> set[str]:
    """Accounts whose gateway deduplicates on our idempotency key, so a resend is safe."""
    return {name for name in accounts() if gateway(name).honours_idempotency_key}
