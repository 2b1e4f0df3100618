"""Zambian mobile networks by number prefix, with what a part costs on each."""
from __future__ import annotations

from typing import NamedTuple

# Costs are kept in ten-thousandths so sums never pick up float noise.
UNITS_PER_CURRENCY = 10_000


class Carrier(NamedTuple):
    """A network: its name, MCC+MNC code, and price per SMS part in ten-thousandths."""

    name: str
    network_code: str
    price_units: int


MTN = Carrier("MTN", "64502", 2_500)
AIRTEL = Carrier("Airtel", "64501", 2_400)
ZAMTEL = Carrier("Zamtel", "64503", 2_200)
OTHER = Carrier("Other", "00000", 3_000)

# Prefixes are all six characters long ("+260" plus two digits).
_BY_PREFIX = {
    "+26096": MTN,
    "+26076": MTN,
    "+26097": AIRTEL,
    "+26077": AIRTEL,
    "+26095": ZAMTEL,
    "+26075": ZAMTEL,
}


def carrier_for(number: str) -> Carrier:
    """The carrier serving an E.164 number; OTHER when the prefix is unknown."""
    return _BY_PREFIX.get(number[:6], OTHER)


def format_cost(currency: str, units: int) -> str:
    """AT's cost string, e.g. 'ZMW 0.2500'."""
    whole, fraction = divmod(units, UNITS_PER_CURRENCY)
    return f"{currency} {whole}.{fraction:04d}"
