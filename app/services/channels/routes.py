"""The route table: which accounts may carry a channel's messages, per country and carrier, at what price.

Routes are configured (HERALD_ROUTES) as a list, each naming an account, a price per SMS part
(in HERALD_SMS_CURRENCY; the cost of a message whose gateway reports none) and a priority. For
each (country, carrier) the candidates are tried in priority order, then cheapest first
(sending.routing chooses among them at claim time, skipping accounts that are down).

A route's country is an ISO region (ZM, CA, GB), matched against the region phonenumbers gives the
recipient (kept on the message row at intake), never against the calling code: +1 is both US and
CA, +44 both GB and GG. Rows stored before regions were kept fall back to the calling code where
one region alone has it (+260 is ZM); where several share it, only the catch-all takes them until
`flask herald backfill-regions` gives them their region (app.services.control.region_backfill).

A routed broadcast names the pseudo-account ROUTED; each of its rows names the real account
that carried it. A catch-all route (country "*", carrier "*") is required per routed channel,
so every message has somewhere to go while at least its catch-all is up.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers
from flask import current_app

from app.services.channels import registry
from app.services.channels.recipients import region_of

# The provider a routed broadcast names: its rows are assigned their account when claimed.
ROUTED = "routes"
ANY = "*"
_FIELDS = {"name", "account", "channel", "country", "carrier", "price", "priority"}


class RouteConfigError(ValueError):
    """HERALD_ROUTES is unreadable or names something that does not exist."""


@dataclass(frozen=True)
class Route:
    """One way to reach a carrier: the account, its price per part and its rank among the candidates."""

    name: str
    account: str
    channel: str
    country: str
    carrier: str
    price: Decimal
    priority: int

    @property
    def region(self) -> str:
        """ISO region the route serves ('*' for any)."""
        return self.country

    @property
    def prefix(self) -> str | None:
        """E.164 prefix that matches a row stored without a region ('' for any country).

        None when other regions share the calling code (+1 is US and CA): such a row could be any
        of them, so no country route takes it, only the catch-all, until its region is backfilled.
        """
        if self.country == ANY:
            return ""
        code = phonenumbers.country_code_for_region(self.country)
        if len(phonenumbers.region_codes_for_country_code(code)) > 1:
            return None
        return f"+{code}"


def parse_routes(raw: str, accounts: dict) -> list[Route]:
    """HERALD_ROUTES (a JSON list, inline or a file path) as routes; RouteConfigError naming the bad entry."""
    raw = raw.strip()
    if not raw:
        return []
    try:
        if raw.startswith(("[", "{")):
            data = json.loads(raw)
        else:
            with open(raw, encoding="utf-8") as handle:
                data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise RouteConfigError(f"neither a JSON list nor a readable JSON file: {exc}") from None
    if not isinstance(data, list) or not data:
        raise RouteConfigError("must be a non-empty JSON list of routes")
    routes = [_route(i, entry, accounts) for i, entry in enumerate(data)]
    names = [route.name for route in routes]
    if len(set(names)) != len(names):
        raise RouteConfigError(f"route names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}")
    for channel in {route.channel for route in routes}:
        if not any(r.channel == channel and r.country == ANY and r.carrier == ANY for r in routes):
            raise RouteConfigError(f"channel {channel!r} needs a catch-all route (country \"*\", carrier \"*\")")
    return routes


def _route(index: int, entry: object, accounts: dict) -> Route:
    """One route entry, checked field by field."""
    where = f"route {index}"
    if not isinstance(entry, dict):
        raise RouteConfigError(f"{where}: must be an object")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise RouteConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    for name in ("name", "account"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise RouteConfigError(f"{where}: {name!r} must be a non-empty string")
    where = f"route {entry['name']!r}"
    if entry["account"] not in accounts:
        raise RouteConfigError(f"{where}: unknown account {entry['account']!r}; "
                               f"accounts: {', '.join(sorted(accounts))}")
    country = str(entry.get("country", ANY)).upper()
    if country != ANY and country not in phonenumbers.SUPPORTED_REGIONS:
        raise RouteConfigError(f"{where}: country {country!r} is not a region phonenumbers knows "
                               "(an ISO 3166 code such as ZM, CA, GB)")
    try:
        price = Decimal(str(entry["price"]))
    except (KeyError, InvalidOperation):
        raise RouteConfigError(f"{where}: 'price' (per SMS part) must be a decimal number") from None
    if not price.is_finite() or price < 0:
        raise RouteConfigError(f"{where}: 'price' must be zero or more")
    priority = entry.get("priority", 1)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise RouteConfigError(f"{where}: 'priority' must be an integer (lower is tried first)")
    carrier = entry.get("carrier", ANY)
    if not isinstance(carrier, str) or not carrier:
        raise RouteConfigError(f"{where}: 'carrier' must be a carrier name or \"*\"")
    return Route(entry["name"], entry["account"], str(entry.get("channel", registry.DEFAULT)), country, carrier.lower(),
                 price, priority)


def table() -> list[Route]:
    """The configured routes (checked at startup by app.config_checks.check_config)."""
    return current_app.config.get("HERALD_ROUTE_TABLE") or []


def routed(channel: str) -> bool:
    """True when messages of this channel go over routes rather than one account."""
    return any(route.channel == channel for route in table())


def provider_for(channel: str) -> str:
    """What a new broadcast or message of this channel names as its provider."""
    return ROUTED if routed(channel) else current_app.config["HERALD_SMS_PROVIDER"]


def candidates(channel: str) -> dict[tuple[str, str], list[Route]]:
    """Per (country, carrier) key, its routes in the order they are tried."""
    keys: dict[tuple[str, str], list[Route]] = {}
    for route in table():
        if route.channel == channel:
            keys.setdefault((route.country, route.carrier), []).append(route)
    return {key: sorted(found, key=lambda r: (r.priority, r.price, r.name)) for key, found in keys.items()}


def _specificity(key: tuple[str, str]) -> tuple[int, int]:
    """Exact country and carrier first, the catch-all last."""
    return key[0] == ANY, key[1] == ANY


def ordered_candidates(channel: str) -> list[tuple[tuple[str, str], list[Route]]]:
    """Each (country, carrier) key with its routes, most specific key first: the order a claim tries them."""
    return sorted(candidates(channel).items(), key=lambda item: _specificity(item[0]))


def first_route(channel: str, recipient: str, carrier: str | None) -> Route | None:
    """The route a message would take with every account up (estimates and previews)."""
    region = region_of(recipient)
    for (country, name), found in ordered_candidates(channel):
        if country in (ANY, region) and name in (ANY, (carrier or "").lower()):
            return found[0]
    return None


def accounts_of(channel: str) -> list[str]:
    """Every account some route of the channel uses."""
    return sorted({route.account for route in table() if route.channel == channel})


def estimate_prices(channel: str, configured: dict[str, Decimal]) -> dict[str, Decimal]:
    """Price per part by carrier (lower case, 'other' for the rest) for a dry run: first routes, all up.

    Unrouted channels keep the configured table (HERALD_SMS_PRICES). A carrier name is taken as
    unique across the route table's countries; the catch-all route prices 'other'.
    """
    if not routed(channel):
        return configured
    prices: dict[str, Decimal] = {}
    for (country, carrier), found in sorted(candidates(channel).items(), key=lambda item: _specificity(item[0])):
        prices.setdefault("other" if carrier == ANY else carrier, found[0].price)
    return prices
