"""The shared GCRA limiter's settings: bucket validation and RATE_LIMITS parsing."""
from __future__ import annotations

import re

import pytest

from app.services.sending.rate_limiter import MAX_RATE, Bucket, buckets_for, parse_rate_limits


@pytest.mark.parametrize("kwargs", [
    {"rate": 0}, {"rate": -5}, {"rate": MAX_RATE * 2}, {"rate": float("nan")}, {"rate": 10, "burst": -0.1},
    {"rate": 10, "burst": float("inf")}, {"rate": 10, "key": ""},
])
def test_bucket_rejects_nonsense(kwargs):
    """Buckets with rates or bursts the script cannot honour are refused up front."""
    with pytest.raises(ValueError):
        Bucket(**{"key": "herald:rate:provider:p", **kwargs})


def test_parse_rate_limits_reads_providers_and_routes():
    """Provider and provider:carrier entries map to per-second rates; blanks are ignored."""
    assert parse_rate_limits("africastalking=200,africastalking:MTN=80") == {
        "africastalking": 200.0, "africastalking:MTN": 80.0}
    assert parse_rate_limits(" twilio = 12.5 , twilio:Airtel-ZM=1e3, ") == {
        "twilio": 12.5, "twilio:Airtel-ZM": 1000.0}
    assert parse_rate_limits("") == {}
    assert parse_rate_limits("p=100000") == {"p": 100000.0}


@pytest.mark.parametrize("entry", [
    "africastalking=0", "africastalking=-5", "africastalking=100001", "africastalking=fast",
    "africastalking", "=200", "africastalking:MTN:extra=5", "africa stalking=5", "africastalking=nan",
    "africastalking=inf", "africastalking:=5", "africastalking=",
])
def test_parse_rate_limits_names_the_bad_entry(entry):
    """Each malformed or absurd entry is refused with the entry in the message."""
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        parse_rate_limits(f"ok=10,{entry}")


def test_parse_rate_limits_refuses_duplicates():
    """The same provider or route configured twice is ambiguous."""
    with pytest.raises(ValueError, match="configured twice"):
        parse_rate_limits("p=10,p:MTN=5,p=20")


def test_buckets_for_uses_the_configured_provider_and_route():
    """A send gets the account bucket and, when configured, its carrier route bucket."""
    limits = parse_rate_limits("p=200,p:MTN=80")
    assert buckets_for(limits, "p", "MTN") == [Bucket("herald:rate:provider:p", 200.0),
                                               Bucket("herald:rate:route:p:MTN", 80.0)]
    assert buckets_for(limits, "p", "Zamtel") == [Bucket("herald:rate:provider:p", 200.0)]
    assert buckets_for(limits, "other") == []
