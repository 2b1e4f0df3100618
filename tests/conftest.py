"""Shared fixtures: a migrated test database, a private Redis db, the app, and factories.

Tests that need PostgreSQL or Redis use the real servers named by DATABASE_URL and
REDIS_URL (the embedded ones under .data/ when run by `make test`).
"""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from smpp_testing import running_smsc  # noqa: E402
from herald_testing import (  # noqa: E402
    ServiceKey, make_service, reset_database, test_database_url, test_redis_url, truncate_all,
)


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh, migrated database for this test run."""
    url = test_database_url()
    reset_database(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database number of the tests' own, emptied at the start."""
    return test_redis_url()


@pytest.fixture(scope="session")
def app(database_url, redis_url):
    """The Flask app pointed at the test stores."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
                       "HERALD_WEBHOOK_SECRET": "test-secret", "TESTING": True})


@pytest.fixture
def clean(app, redis_url):
    """Empty every table and the tests' Redis db before a test."""
    truncate_all(app, redis_url)
    yield


@pytest.fixture
def client(app, clean):
    """A test client on clean stores."""
    return app.test_client()


@pytest.fixture
def service(app, clean) -> ServiceKey:
    """A service with an API key."""
    return make_service(app, "programme-a")


@pytest.fixture(scope="module")
def smsc_module():
    """One sandbox SMSC (`python -m sandbox --smpp-port`) for the module."""
    with running_smsc() as smsc:
        yield smsc


@pytest.fixture
def smsc(smsc_module):
    """The module's SMSC on default settings with an empty ledger."""
    smsc_module.reset()
    return smsc_module
