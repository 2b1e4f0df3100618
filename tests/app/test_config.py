"""create_app refuses settings that would run a real gateway insecurely."""
from __future__ import annotations

import json

import pytest

from app import create_app
from app.config_checks import ConfigurationError, is_loopback_url


@pytest.mark.parametrize("url", ["https://api.africastalking.com", "http://10.0.0.5:8025", "http://[2001:db8::1]/"])
def test_a_real_gateway_without_a_webhook_secret_refuses_to_start(database_url, url):
    with pytest.raises(ConfigurationError, match="HERALD_WEBHOOK_SECRET"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "AT_BASE_URL": url, "HERALD_WEBHOOK_SECRET": ""})


def test_a_real_gateway_with_a_secret_starts(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "AT_BASE_URL": "https://api.africastalking.com",
                      "HERALD_WEBHOOK_SECRET": "s3cret-path"})
    assert app.config["HERALD_WEBHOOK_SECRET"] == "s3cret-path"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8025", "http://localhost:8025", "http://[::1]:8025",
                                 "http://127.0.0.2"])
def test_the_sandbox_on_loopback_needs_no_secret(database_url, url):
    assert is_loopback_url(url)
    create_app({"SQLALCHEMY_DATABASE_URI": database_url, "AT_BASE_URL": url, "HERALD_WEBHOOK_SECRET": ""})


def _accounts_app(database_url, accounts, **extra):
    """create_app with HERALD_ACCOUNTS set to `accounts` (a dict, or raw text)."""
    raw = accounts if isinstance(accounts, str) else json.dumps(accounts)
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "HERALD_ACCOUNTS": raw, **extra})


AT_MAIN = {"provider": "africastalking", "base_url": "http://127.0.0.1:8025", "username": "u", "api_key": "k"}


def test_without_herald_accounts_one_africastalking_account_comes_from_the_at_variables(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "AT_USERNAME": "someone"})

    [(name, account)] = app.config["HERALD_ACCOUNT_TABLE"].items()
    assert name == "africastalking" and account["provider"] == "africastalking"
    assert account["settings"]["username"] == "someone"


def test_accounts_are_read_from_a_file(database_url, tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"at_main": AT_MAIN, "at_two": {**AT_MAIN, "username": "v"}}))

    app = _accounts_app(database_url, str(path), HERALD_SMS_PROVIDER="at_two")

    assert set(app.config["HERALD_ACCOUNT_TABLE"]) == {"at_main", "at_two"}


@pytest.mark.parametrize(("accounts", "named"), [
    ({"at_main": {**AT_MAIN, "api_key": ""}}, r"account 'at_main'.*'api_key' is required"),
    ({"at_main": {**AT_MAIN, "read_timeout": "15s"}}, r"account 'at_main'.*'read_timeout' must be a number"),
    ({"at_main": {**AT_MAIN, "max_bulk_recipients": True}}, r"'max_bulk_recipients' must be an integer"),
    ({"at_main": {**AT_MAIN, "colour": "red"}}, r"account 'at_main'.*unknown setting\(s\) colour"),
    ({"at_main": {**AT_MAIN, "provider": "pigeon"}}, r"account 'at_main'.*unknown provider 'pigeon'"),
    ({"tw": {"provider": "twilio", "auth_token": "t", "sender": "+1"}}, r"account 'tw'.*'account_sid' is required"),
    ({"at_main": {**AT_MAIN, "base_url": "https://api.africastalking.com"}}, r"'at_main'.*no webhook_secret"),
    ("{not json", r"HERALD_ACCOUNTS is neither"),
    ("/no/such/accounts.json", r"HERALD_ACCOUNTS is neither"),
    ({"other": AT_MAIN}, r"HERALD_SMS_PROVIDER names account 'at_main'"),
])
def test_a_bad_account_refuses_to_start_naming_account_and_setting(database_url, accounts, named):
    with pytest.raises(ConfigurationError, match=named):
        _accounts_app(database_url, accounts, HERALD_SMS_PROVIDER="at_main")


def test_a_real_gateway_gets_the_environments_proxy_and_the_sandbox_does_not(database_url):
    accounts = {"real": {**AT_MAIN, "base_url": "https://api.africastalking.com", "webhook_secret": "s"},
                "bypassed": {**AT_MAIN, "base_url": "https://gw.internal.example", "webhook_secret": "s"},
                "sandbox": AT_MAIN}
    app = _accounts_app(database_url, accounts, HERALD_SMS_PROVIDER="sandbox", HTTPS_PROXY="http://proxy:3128",
                        NO_PROXY="localhost,.internal.example")

    table = app.config["HERALD_ACCOUNT_TABLE"]
    assert table["real"]["settings"]["proxy_url"] == "http://proxy:3128"
    assert "proxy_url" not in table["bypassed"]["settings"] and "proxy_url" not in table["sandbox"]["settings"]
