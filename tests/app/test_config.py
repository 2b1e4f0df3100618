"""create_app refuses settings that would run a real gateway insecurely."""
from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigurationError, is_loopback_url


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
