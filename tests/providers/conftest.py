"""Fixtures for adapter tests: a scripted loopback gateway and adapters pointed at it."""
from __future__ import annotations

import os
import socket
import sys

import pytest

# The helpers live beside this file (the sandbox's SMTP helpers beside its tests) and the code
# under test two levels up; make them importable whatever pytest's import mode or working directory.
_HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (_HERE, os.path.join(os.path.dirname(_HERE), "sandbox"), os.path.dirname(os.path.dirname(_HERE))):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from at_gateway import ScriptedGateway  # noqa: E402
from providers.africastalking import AfricasTalkingSMS  # noqa: E402


@pytest.fixture
def gateway():
    """A running scripted gateway, stopped after the test."""
    server = ScriptedGateway()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_adapter(gateway):
    """Build Africa's Talking adapters aimed at the scripted gateway; closed after the test."""
    built: list[AfricasTalkingSMS] = []

    def build(**overrides: object) -> AfricasTalkingSMS:
        """An adapter with tiny timeouts unless the test says otherwise."""
        settings = {
            "base_url": gateway.url,
            "username": "herald",
            "api_key": "test-key",
            "sender_id": "HERALD",
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
        }
        settings.update(overrides)
        adapter = AfricasTalkingSMS(**settings)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
