"""Every channel Herald knows, by name: adding one is its module plus one line here.

A channel is sendable when Herald can send on it end to end, and supported when, besides, a
configured gateway account's provider carries it (its `Provider.channel`). The API names every
known channel; a request for one that is not supported is refused with the supported list.
"""
from __future__ import annotations

from app.services.channels.channel import Channel
from app.services.channels.sms import SMS
from flask import current_app

from providers.registry import provider_class

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (
    SMS,
    Channel("email", contact_field="email", unit="email", address_name="email address", escapes_html=True),
    Channel("whatsapp", contact_field="whatsapp", unit="conversation", address_name="WhatsApp number"),
    Channel("inbox", contact_field="inbox_user_id", unit="message", address_name="user id"),
    Channel("webhook", contact_field=None, unit="event", address_name="URL"),
)}
# What a request that names no channel means.
DEFAULT = SMS.name


class UnknownChannel(KeyError):
    """A name that is no channel of Herald's."""


def get(name: str) -> Channel:
    """The channel of this name; UnknownChannel if there is none."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise UnknownChannel(name) from None


def known() -> list[str]:
    """Every channel's name, sorted."""
    return sorted(CHANNELS)


def sendable() -> list[str]:
    """The channels Herald can send on end to end, sorted (the API's schemas offer these)."""
    return sorted(name for name, channel in CHANNELS.items() if channel.sendable)


def supported() -> list[str]:
    """The channels some configured account carries, sorted."""
    accounts = current_app.config["HERALD_ACCOUNT_TABLE"].values()
    carried = {provider_class(account["provider"]).channel for account in accounts}
    return sorted(name for name in sendable() if name in carried)


def with_contact_field() -> list[str]:
    """The channels a contact has an address (and a consent) for, in the registry's order."""
    return [name for name, channel in CHANNELS.items() if channel.contact_field is not None]


def critical_may_pass() -> list[str]:
    """The channels on which a service-critical template may reach an opted-out address, sorted."""
    return sorted(name for name, channel in CHANNELS.items() if channel.critical_may_pass)
