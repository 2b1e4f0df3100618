"""The settings Herald refuses to start with, and the gateway accounts read from them (at app creation)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from app.config import DEVELOPMENT_PSEUDONYM_KEY
from providers.base import ProviderConfigError
from providers.registry import check_account, provider_class


class ConfigurationError(RuntimeError):
    """A combination of settings Herald refuses to start with."""


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _check_pseudonym_key(config, accounts: dict) -> None:
    """Against a real gateway the erasure pseudonyms need a key of the installation's own, not the default."""
    urls = [str(account["settings"].get("base_url") or "") for account in accounts.values()]
    real = [url for url in urls if url and not is_loopback_url(url)]
    if real and config["HERALD_PSEUDONYM_KEY"] == DEVELOPMENT_PSEUDONYM_KEY:
        raise ConfigurationError(
            f"HERALD_PSEUDONYM_KEY is the development default while {real[0]} is a real gateway: erased people "
            "stay suppressed under pseudonyms keyed by it; set it to a long random value and keep it")


def is_loopback_url(url: str) -> bool:
    """True when a URL points at this host (the sandbox gateway), not at a real one."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def check_config(config) -> None:
    """Refuse insecure or broken settings (ConfigurationError naming the variable); build the account table."""
    if not config["HERALD_ACCOUNTS"] and not is_loopback_url(config["AT_BASE_URL"]) and not config["HERALD_WEBHOOK_SECRET"]:
        raise ConfigurationError(
            f"HERALD_WEBHOOK_SECRET is empty while AT_BASE_URL ({config['AT_BASE_URL']}) is a real gateway: "
            "delivery reports need a secret URL (/webhooks/africastalking/<secret>); set HERALD_WEBHOOK_SECRET "
            "to a long random value")
    accounts = load_accounts(config)
    _check_pseudonym_key(config, accounts)
    for name, account in accounts.items():
        try:
            check_account(name, account["provider"], account["settings"])
        except ProviderConfigError as exc:
            raise ConfigurationError(f"HERALD_ACCOUNTS: {exc}") from None
        _check_report_secret(name, account)
    from app.services.channels import routes  # noqa: PLC0415 - the services import app config themselves
    if routes.ROUTED in accounts:
        raise ConfigurationError(f"HERALD_ACCOUNTS: the account name {routes.ROUTED!r} is reserved for routed sends")
    try:
        config["HERALD_ROUTE_TABLE"] = routes.parse_routes(config["HERALD_ROUTES"], accounts)
    except routes.RouteConfigError as exc:
        raise ConfigurationError(f"HERALD_ROUTES: {exc}") from None
    from app.services.limits import quota  # noqa: PLC0415 - as above
    try:
        quota.check_limits(config["HERALD_PROVIDER_DAILY_QUOTAS"], accounts)
    except ValueError as exc:
        raise ConfigurationError(f"HERALD_PROVIDER_DAILY_QUOTAS: {exc}") from None
    if config["HERALD_SMS_PROVIDER"] not in accounts:
        raise ConfigurationError(f"HERALD_SMS_PROVIDER names account {config['HERALD_SMS_PROVIDER']!r}, which is "
                                 f"not configured; accounts: {', '.join(sorted(accounts))}")
    config["HERALD_ACCOUNT_TABLE"] = accounts


def load_accounts(config) -> dict[str, dict]:
    """Every named account as {"provider", "settings"}, proxies filled in; ConfigurationError if unreadable."""
    raw = config["HERALD_ACCOUNTS"].strip()
    if not raw:
        accounts = {"africastalking": {"provider": "africastalking", "settings": default_account_settings(config)}}
    else:
        accounts = _parse_accounts(_read_accounts_json(raw))
    for account in accounts.values():
        _fill_proxy(config, account)
    return accounts


def _read_accounts_json(raw: str) -> object:
    """HERALD_ACCOUNTS as JSON: inline when it starts with '{', else read from that file."""
    try:
        if raw.startswith("{"):
            return json.loads(raw)
        with open(raw, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"HERALD_ACCOUNTS is neither a JSON object nor a readable JSON file: {exc}") from None


def _parse_accounts(data: object) -> dict[str, dict]:
    """Split each account's provider from its settings; ConfigurationError naming a bad account."""
    if not isinstance(data, dict) or not data:
        raise ConfigurationError("HERALD_ACCOUNTS must be a non-empty JSON object of named accounts")
    accounts = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("provider"), str):
            raise ConfigurationError(f"HERALD_ACCOUNTS: account {name!r} needs a \"provider\" name")
        if not name or "/" in name:
            raise ConfigurationError(f"HERALD_ACCOUNTS: account name {name!r} must be non-empty, without '/'")
        settings = {key: value for key, value in entry.items() if key != "provider"}
        accounts[name] = {"provider": entry["provider"], "settings": settings}
    return accounts


def _fill_proxy(config, account: dict) -> None:
    """Give an HTTP account the proxy the environment names for its scheme, unless it set one or bypasses it."""
    settings = account["settings"]
    try:
        takes_proxy = any(s.name == "proxy_url" for s in provider_class(account["provider"]).settings_schema)
    except ProviderConfigError:
        return  # check_account names the unknown provider
    url = settings.get("base_url")
    if not takes_proxy or settings.get("proxy_url") or not isinstance(url, str) or not url:
        return
    host = (urlsplit(url).hostname or "").lower()
    if is_loopback_url(url) or _bypasses_proxy(host, config["NO_PROXY"]):
        return
    proxy = config["HTTPS_PROXY"] if url.startswith("https:") else config["HTTP_PROXY"]
    if proxy:
        settings["proxy_url"] = proxy


def _bypasses_proxy(host: str, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: '*', or host names and domain suffixes, comma-separated."""
    for entry in (item.strip().lower().lstrip(".") for item in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _check_report_secret(name: str, account: dict) -> None:
    """An account whose reports are checked by a URL secret must have one when it talks to a real gateway."""
    settings = account["settings"]
    schema = provider_class(account["provider"]).settings_schema
    if any(s.name == "webhook_secret" for s in schema) and not settings.get("webhook_secret"):
        url = str(settings.get("base_url") or "")
        if url and not is_loopback_url(url):
            raise ConfigurationError(f"HERALD_ACCOUNTS: account {name!r} talks to {url} but has no webhook_secret: "
                                     f"its reports need a secret URL (/webhooks/{name}/<secret>)")


def default_account_settings(config) -> dict:
    """The settings of the default account, "africastalking", read from the AT_* variables."""
    return {**provider_settings(config), "webhook_secret": config["HERALD_WEBHOOK_SECRET"]}


def provider_settings(config) -> dict:
    """The keyword arguments the configured SMS adapter is built with."""
    return {
        "base_url": config["AT_BASE_URL"],
        "username": config["AT_USERNAME"],
        "api_key": config["AT_API_KEY"],
        "sender_id": config["AT_SENDER_ID"],
        "honours_idempotency_key": config["AT_HONOURS_IDEMPOTENCY_KEY"],
        "max_bulk_recipients": max(1, config["AT_BULK_MAX"]),
        "connect_timeout": config["AT_CONNECT_TIMEOUT"],
        "read_timeout": config["AT_READ_TIMEOUT"],
        "pool_maxsize": max(4, config["HERALD_SEND_THREADS"] * 2),
    }
