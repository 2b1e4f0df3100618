"""The contract every registered adapter keeps, checked table-driven over PROVIDER_CLASSES."""
from __future__ import annotations

import pytest

import providers
from providers import registry
from providers.base import Provider, ProviderConfigError

# Minimal working settings per registered adapter; a new adapter must add a row here.
CONTRACT_SETTINGS: dict[str, dict[str, object]] = {
    "africastalking": {"base_url": "http://127.0.0.1:8025", "username": "u", "api_key": "k"},
}
CHANNELS = {"sms", "whatsapp", "email", "voice"}
NAMES = sorted(registry.PROVIDER_CLASSES)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts and ends with no cached adapters."""
    registry.clear_provider_cache()
    yield
    registry.clear_provider_cache()


def test_every_registered_adapter_has_contract_settings():
    assert set(CONTRACT_SETTINGS) == set(registry.PROVIDER_CLASSES)


@pytest.mark.parametrize("name", NAMES)
def test_class_shape(name):
    cls = registry.PROVIDER_CLASSES[name]

    assert issubclass(cls, Provider)
    assert cls.name == name
    assert cls.channel in CHANNELS
    for verb in ("send", "parse_delivery_report"):
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
        "PermanentError", "UnknownOutcome", "ProviderConfigError", "Provider", "build_provider", "get_provider",
    )
    for name in names:
        assert hasattr(providers, name), name
