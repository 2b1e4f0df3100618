"""The contract every registered adapter keeps, checked table-driven over PROVIDER_CLASSES."""
from __future__ import annotations

import inspect
import socket

import pytest

import providers
from providers import base, registry
from providers.base import (GatewayRejected, NotSent, OutboundMessage, PermanentError, Provider, ProviderConfigError,
                            RateLimited, SendError, TemporaryError, UnknownOutcome)

# Minimal working settings per registered adapter; a new adapter must add a row here.
CONTRACT_SETTINGS: dict[str, dict[str, object]] = {
    "africastalking": {"base_url": "http://127.0.0.1:8025", "username": "u", "api_key": "k"},
    "smpp": {"host": "127.0.0.1", "port": 2775, "system_id": "u", "password": "p"},
}
# The same adapters aimed at a gateway that does not listen (`{url}`, `{port}`: a closed loopback port).
UNREACHABLE_SETTINGS: dict[str, dict[str, object]] = {
    "africastalking": {"base_url": "{url}", "username": "u", "api_key": "k", "connect_timeout": 0.5},
    "smpp": {"host": "127.0.0.1", "port": "{port}", "system_id": "u", "password": "p", "connect_timeout": 0.5},
}
CHANNELS = {"sms", "whatsapp", "email", "voice"}
# Each typed outcome: the family the retry policy sorts it by, and what it tells the circuit breaker.
OUTCOMES = [
    (NotSent("connect_failed"), TemporaryError, "down"),
    (GatewayRejected("gateway_auth"), SendError, "rejected"),
    (TemporaryError("gateway_http_503", gateway_fault="down"), TemporaryError, "down"),
    (UnknownOutcome("gateway_http_502", gateway_fault="down"), UnknownOutcome, "down"),
    (TemporaryError("InternalServerError"), TemporaryError, None),
    (RateLimited("rate_limited", retry_after=1.0), TemporaryError, None),
    (PermanentError("InvalidPhoneNumber"), PermanentError, None),
    (UnknownOutcome("read_timeout"), UnknownOutcome, None),
]
NAMES = sorted(registry.PROVIDER_CLASSES)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts and ends with no cached adapters."""
    registry.clear_provider_cache()
    yield
    registry.clear_provider_cache()


def test_every_registered_adapter_has_contract_settings():
    assert set(CONTRACT_SETTINGS) == set(registry.PROVIDER_CLASSES) == set(UNREACHABLE_SETTINGS)


@pytest.mark.parametrize(("error", "family", "fault"), OUTCOMES, ids=lambda v: getattr(v, "code", None))
def test_typed_outcomes_say_what_they_mean_for_the_gateway(error, family, fault):
    assert isinstance(error, family)
    assert error.gateway_fault == fault


def test_one_rooted_exception_tree_with_a_docstring_per_class():
    errors = [cls for _, cls in inspect.getmembers(base, inspect.isclass) if issubclass(cls, Exception)
              and cls.__module__ == base.__name__ and cls is not ProviderConfigError]
    assert {NotSent, GatewayRejected, UnknownOutcome, RateLimited} <= set(errors)
    for cls in errors:
        assert issubclass(cls, SendError) and cls.__doc__, cls


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unreachable(name: str) -> Provider:
    """The adapter `name` aimed at a closed port."""
    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    settings = {k: (v.format(url=url, port=port) if isinstance(v, str) else v) for k, v in UNREACHABLE_SETTINGS[name].items()}
    return providers.build_provider(name, settings)


@pytest.mark.parametrize("name", NAMES)
def test_an_unreachable_gateway_is_not_sent_for_sends_and_probes(name):
    provider = _unreachable(name)
    outbound = OutboundMessage(message_id=1, to="+260971234567", body="hi", idempotency_key="k1")

    with pytest.raises(NotSent) as sent:
        provider.send(outbound)
    with pytest.raises(NotSent) as probed:
        provider.probe()
    assert sent.value.gateway_fault == probed.value.gateway_fault == "down"


@pytest.mark.parametrize("name", NAMES)
def test_class_shape(name):
    cls = registry.PROVIDER_CLASSES[name]

    assert issubclass(cls, Provider)
    assert cls.name == name
    assert cls.channel in CHANNELS
    for verb in ("send", "parse_delivery_report", "probe"):
        assert getattr(cls, verb) is not getattr(Provider, verb), f"{name} must implement {verb}"


@pytest.mark.parametrize("name", NAMES)
def test_built_instance_declares_its_capabilities(name):
    provider = providers.build_provider(name, CONTRACT_SETTINGS[name])

    assert isinstance(provider.honours_idempotency_key, bool)
    assert isinstance(provider.max_bulk_recipients, int) and provider.max_bulk_recipients >= 1


@pytest.mark.parametrize("name", NAMES)
def test_empty_settings_are_a_config_error(name):
    with pytest.raises(ProviderConfigError):
        providers.build_provider(name, {})


@pytest.mark.parametrize("name", NAMES)
def test_unknown_settings_are_a_config_error(name):
    with pytest.raises(ProviderConfigError, match="no_such_setting"):
        providers.build_provider(name, {**CONTRACT_SETTINGS[name], "no_such_setting": 1})


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_delivery_report_is_a_value_error(name):
    provider = providers.build_provider(name, CONTRACT_SETTINGS[name])

    with pytest.raises(ValueError):
        provider.parse_delivery_report({})


@pytest.mark.parametrize("name", NAMES)
def test_bulk_of_nothing_is_nothing(name):
    assert providers.build_provider(name, CONTRACT_SETTINGS[name]).send_bulk([]) == []


@pytest.mark.parametrize("name", NAMES)
def test_get_provider_returns_one_instance_per_name(name):
    first = providers.get_provider(name, CONTRACT_SETTINGS[name])

    assert providers.get_provider(name, CONTRACT_SETTINGS[name]) is first
    assert providers.build_provider(name, CONTRACT_SETTINGS[name]) is not first


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(ProviderConfigError) as caught:
        providers.build_provider("carrier-pigeon", {})

    assert "carrier-pigeon" in str(caught.value)
    for name in NAMES:
        assert name in str(caught.value)


def test_get_provider_does_not_cache_failures():
    with pytest.raises(ProviderConfigError):
        providers.get_provider("africastalking", {})

    assert isinstance(providers.get_provider("africastalking", CONTRACT_SETTINGS["africastalking"]), Provider)


def test_package_reexports_the_contract():
    names = (
        "OutboundMessage", "Accepted", "DeliveryReport", "SendError", "TemporaryError", "RateLimited",
        "PermanentError", "UnknownOutcome", "NotSent", "GatewayRejected", "ProviderConfigError", "Provider",
        "build_provider", "get_provider",
    )
    for name in names:
        assert hasattr(providers, name), name
