"""The contract every registered adapter keeps, checked table-driven over PROVIDER_CLASSES.

Each HTTP provider's dialect (settings, answers, reports) is one row of tests/providers/dialects.py;
the wire tests run every row against a scripted loopback gateway speaking that dialect. SMPP's
rows run against the sandbox SMSC (`python -m sandbox --smpp-port`), told each fault over its
control API: the same outcomes, from command_status codes, a silent or cut bind, and deliver_sm.
SMTP's rows against the sandbox's SMTP server are in tests/providers/test_smtp.py.
"""
from __future__ import annotations

import inspect
import socket

import pytest
from smpp_testing import Receipts, poll_until

import providers
from at_gateway import Reply
from dialects import DIALECTS, SMPP_RECEIPTS, SMPP_REFUSALS, invalid_number_reply
from providers import base, registry
from providers.base import (Accepted, GatewayRejected, NotSent, OutboundMessage, PermanentError, Provider,
                            ProviderConfigError, RateLimited, SendError, TemporaryError, UnknownOutcome)

# Minimal working settings per registered adapter; a new adapter must add a row here.
CONTRACT_SETTINGS: dict[str, dict[str, object]] = {
    **{name: dialect.settings("http://127.0.0.1:8025") for name, dialect in DIALECTS.items()},
    "smpp": {"host": "127.0.0.1", "port": 2775, "system_id": "u", "password": "p"},
    "smtp": {"host": "127.0.0.1", "port": 2525, "from_address": "news@herald.test", "starttls": False},
}
# The same adapters aimed at a gateway that does not listen (`{url}`, `{port}`: a closed loopback port).
UNREACHABLE_SETTINGS: dict[str, dict[str, object]] = {
    **{name: {**dialect.settings("{url}"), "connect_timeout": 0.5} for name, dialect in DIALECTS.items()},
    "smpp": {"host": "127.0.0.1", "port": "{port}", "system_id": "u", "password": "p", "connect_timeout": 0.5},
    "smtp": {"host": "127.0.0.1", "port": "{port}", "from_address": "news@herald.test", "starttls": False,
             "connect_timeout": 0.5},
}
# An address each channel's adapters can carry (the SMTP adapter refuses a phone number before any call).
CHANNEL_ADDRESSES = {"sms": "+260971234567", "email": "person@example.org"}
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
# The HTTP gateways, whose wire answers the stub gateway can script; SMPP's rows are at the end.
HTTP_NAMES = sorted(DIALECTS)


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
    outbound = OutboundMessage(message_id=1, to=CHANNEL_ADDRESSES[provider.channel], body="hi", idempotency_key="k1")

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
    for verb in ("send", "parse_delivery_report", "probe", "verify"):
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


def test_every_adapter_declares_a_settings_schema_its_constructor_takes():
    for name, cls in registry.PROVIDER_CLASSES.items():
        declared = {setting.name for setting in cls.settings_schema}
        assert declared and declared <= registry._keyword_names(cls), name
        assert set(CONTRACT_SETTINGS[name]) <= declared, name


@pytest.mark.parametrize("name", NAMES)
def test_an_account_missing_a_required_setting_is_named(name):
    required = [s.name for s in registry.PROVIDER_CLASSES[name].settings_schema if s.required]
    settings = {k: v for k, v in CONTRACT_SETTINGS[name].items() if k != required[0]}

    with pytest.raises(ProviderConfigError, match=rf"account 'acct_x'.*{required[0]}"):
        registry.build_account("acct_x", name, settings)


@pytest.mark.parametrize("name", NAMES)
def test_an_account_with_a_wrong_typed_setting_is_named(name):
    with pytest.raises(ProviderConfigError, match=r"account 'acct_x'.*'connect_timeout' must be a number"):
        registry.build_account("acct_x", name, {**CONTRACT_SETTINGS[name], "connect_timeout": "soon"})


@pytest.mark.parametrize("name", NAMES)
def test_two_accounts_of_one_provider_are_two_adapters(name):
    first = registry.get_account("one", name, CONTRACT_SETTINGS[name])
    second = registry.get_account("two", name, CONTRACT_SETTINGS[name])

    assert first is not second and registry.get_account("one", name, dict(CONTRACT_SETTINGS[name])) is first


# ---- the wire, against a scripted gateway speaking each dialect --------------------------------

OUTBOUND = OutboundMessage(message_id=7, to="+260971234567", body="Rain expected", idempotency_key="b1:7")


@pytest.fixture
def wire(gateway):
    """Build adapter `name` aimed at the scripted gateway with short timeouts; closed afterwards."""
    built: list[Provider] = []

    def build(name: str) -> Provider:
        settings = {**DIALECTS[name].settings(gateway.url), "connect_timeout": 1.0, "read_timeout": 0.5}
        adapter = registry.build_account(f"{name}_test", name, settings)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_accepted(name, gateway, wire):
    gateway.reply = DIALECTS[name].accept

    result = wire(name).send(OUTBOUND)

    assert isinstance(result, Accepted) and result.provider_message_id and result.segments == 1
    assert gateway.requests[0].method == "POST"


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_a_server_error_is_temporary_and_says_the_gateway_is_down(name, gateway, wire):
    gateway.answer(DIALECTS[name].server_error)

    with pytest.raises(TemporaryError) as caught:
        wire(name).send(OUTBOUND)
    assert not isinstance(caught.value, UnknownOutcome) and caught.value.gateway_fault == "down"


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_an_invalid_number_is_permanent_with_the_gateways_code(name, gateway, wire):
    gateway.reply = invalid_number_reply(name)

    with pytest.raises(PermanentError) as caught:
        wire(name).send(OUTBOUND)
    assert caught.value.code == DIALECTS[name].invalid_number_code and caught.value.gateway_fault is None


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_429_is_rate_limited_with_retry_after(name, gateway, wire):
    gateway.answer(DIALECTS[name].rate_limited)

    with pytest.raises(RateLimited) as caught:
        wire(name).send(OUTBOUND)
    assert caught.value.retry_after == 2.0 and caught.value.gateway_fault is None


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_a_request_whose_answer_is_late_is_an_unknown_outcome(name, gateway, wire):
    gateway.answer(Reply(201, b"{}", delay=1.5))

    with pytest.raises(UnknownOutcome) as caught:
        wire(name).send(OUTBOUND)
    assert caught.value.code == "read_timeout" and len(gateway.requests) == 1


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_a_request_whose_answer_is_lost_is_an_unknown_outcome(name, gateway, wire):
    gateway.answer(Reply(drop=True))

    with pytest.raises(UnknownOutcome) as caught:
        wire(name).send(OUTBOUND)
    assert caught.value.code == "connection_lost" and len(gateway.requests) == 1


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_real_shaped_reports_verify_and_parse(name, wire):
    dialect, adapter = DIALECTS[name], wire(name)

    for gateway_status, herald in ((dialect.delivered_status, "delivered"), (dialect.failed_status, "failed")):
        request = dialect.report("MSG-1", gateway_status, False)
        assert adapter.verify(request)
        [report] = adapter.parse_reports(request)
        assert (report.provider_message_id, report.status) == ("MSG-1", herald) and report.provider_status


@pytest.mark.parametrize("name", HTTP_NAMES)
def test_a_report_with_a_bad_signature_is_refused(name, wire):
    assert not wire(name).verify(DIALECTS[name].report("MSG-1", DIALECTS[name].delivered_status, True))


# ---- the wire, SMPP: against the sandbox SMSC ------------------------------------------------

@pytest.fixture
def smpp_wire(smsc):
    """Build SMPP adapters bound to the sandbox SMSC, with short timeouts; unbound after the test."""
    built: list[Provider] = []

    def build(on_receipts=None, **overrides) -> Provider:
        settings = smsc.settings(response_timeout=0.5, throttle_retry_after_s=2.0, **overrides)
        built.append(registry.build_account("smpp_test", "smpp", settings))
        built[-1].on_receipts = on_receipts  # as app.services.control.gateways gives it the receipt sink
        return built[-1]

    yield build
    for adapter in built:
        adapter.close()


def test_smpp_accepted(smsc, smpp_wire):
    result = smpp_wire().send(OUTBOUND)

    assert isinstance(result, Accepted) and result.provider_message_id and result.segments == 1
    assert smsc.ledger()["by_recipient"] == {OUTBOUND.to: 1}


@pytest.mark.parametrize(("fault", "to", "kind", "code"), SMPP_REFUSALS.values(), ids=SMPP_REFUSALS.keys())
def test_smpp_command_status_is_a_typed_outcome(smsc, smpp_wire, fault, to, kind, code):
    smsc.configure(**fault)

    with pytest.raises(SendError) as caught:
        smpp_wire().send(OutboundMessage(message_id=7, to=to, body="Rain expected", idempotency_key=""))
    assert type(caught.value) is kind and caught.value.code == code and caught.value.gateway_fault is None
    assert kind is not RateLimited or caught.value.retry_after == 2.0
    assert smsc.ledger()["accepted"] == 0


def test_smpp_no_answer_to_submit_sm_is_unknown_and_what_waits_behind_it_temporary(smsc, smpp_wire):
    smsc.configure(latency_ms=3000)
    second = OutboundMessage(message_id=8, to="+260977654321", body="Rain expected", idempotency_key="")

    written, waiting = smpp_wire(window_size=1).send_bulk([OUTBOUND, second])

    # The SMSC may have the written one: never resent. The other was never written: retried later.
    assert isinstance(written, UnknownOutcome) and written.code == "response_timeout"
    assert type(waiting) is NotSent and waiting.code == "window_full" and waiting.gateway_fault == "down"


def test_smpp_a_bind_cut_after_submit_sm_was_written_is_an_unknown_outcome(smsc, smpp_wire):
    adapter = smpp_wire()
    adapter.probe()  # bound before the fault, so the cut comes after the submit_sm is written
    smsc.configure(smpp_drop_once=True)

    with pytest.raises(UnknownOutcome) as caught:
        adapter.send(OUTBOUND)
    assert caught.value.code == "bind_lost" and caught.value.gateway_fault == "down"
    assert smsc.ledger()["smpp"]["drops"] == 1


def test_smpp_real_deliver_sm_receipts_parse_to_herald_statuses(smsc, smpp_wire):
    receipts = Receipts()
    adapter = smpp_wire(on_receipts=receipts)
    sent = {adapter.send(OutboundMessage(message_id=n, to=to, body="Rain expected", idempotency_key="")
                         ).provider_message_id: to for n, to in enumerate(SMPP_RECEIPTS)}

    assert poll_until(lambda: len(receipts.reports) == len(sent), 5.0)
    for report in receipts.reports:
        stat, status = SMPP_RECEIPTS[sent[report.provider_message_id]]
        assert (report.status, report.provider_status) == (status, stat)
        assert report.raw["esm_class"] == "4" and f"stat:{stat}" in report.raw["short_message"]
    # Receipts come over the bind: no HTTP callback is ever this account's.
    assert not adapter.verify(DIALECTS["africastalking"].report("MSG-1", "Success", False))


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
