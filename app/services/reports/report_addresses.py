"""Where a stored delivery report can hold a person's address, and how it is taken out.

Gateways post their own fields and Herald stores them as received (`delivery_events.payload`).
The keys below are every field a supported gateway uses for a phone number or address, in either
direction (a receipt's source is the handset, a status callback's `To` is the person). Scrubbing
drops those keys at any depth, and any other string value that contains one of the addresses, so
a field a gateway adds later (or nests) is caught by its value even before it is listed here.
"""
from __future__ import annotations

from typing import Iterable

# Per gateway kind, the report fields that carry an address (ours or the person's).
ADDRESS_KEYS: dict[str, tuple[str, ...]] = {
    "africastalking": ("phoneNumber",),
    "infobip": ("to", "from", "destination", "sender"),
    "twilio": ("To", "From"),
    "smpp": ("source_addr", "destination_addr"),
}
_KEYS = frozenset(key for keys in ADDRESS_KEYS.values() for key in keys)
# Shorter values (a sender id like "INFO") would match too much to be an address.
_MIN_ADDRESS_LENGTH = 6


def scrub_addresses(payload, addresses: Iterable[str] = ()):
    """The payload without address keys and without any string value containing an address.

    `addresses` are the person's known addresses; the values found under the address keys are
    added to them, so a report scrubbed without knowing whose it is still loses every copy.
    """
    needles = _needles([*addresses, *_values_under_keys(payload)])
    return _without(payload, needles)


def _needles(addresses: Iterable[str]) -> frozenset[str]:
    """Addresses as matched: lower case, without a leading '+' (gateways drop it or prefix 'whatsapp:')."""
    found = (str(address).strip().lower().lstrip("+") for address in addresses if address)
    return frozenset(needle for needle in found if len(needle) >= _MIN_ADDRESS_LENGTH)


def _values_under_keys(value) -> list[str]:
    """Every string stored under an address key, at any depth."""
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in ([item] if key in _KEYS and isinstance(item, str) else _values_under_keys(item))]
    if isinstance(value, list):
        return [found for item in value for found in _values_under_keys(item)]
    return []


def _without(value, needles: frozenset[str]):
    """A copy of `value` without address keys and without strings that contain a needle."""
    if isinstance(value, dict):
        return {key: _without(item, needles) for key, item in value.items()
                if key not in _KEYS and not _holds_address(item, needles)}
    if isinstance(value, list):
        return [_without(item, needles) for item in value if not _holds_address(item, needles)]
    return value


def _holds_address(value, needles: frozenset[str]) -> bool:
    """True for a string containing one of the addresses."""
    if not isinstance(value, str) or not needles:
        return False
    lowered = value.lower()
    return any(needle in lowered for needle in needles)
