"""The dry run: what a broadcast would send and cost, judged like intake, written nowhere."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable

from app.errors import ValidationFailed
from app.services import optouts
from app.services.broadcast_request import BroadcastSpec
from app.services.intake import _item_fields, _judge
from app.services.recipients import classify
from app.services.templates import compile_variants
from providers.segments import count_segments, encoding, transliterate, ucs2_culprits

SAMPLE_SIZE = 5


def parse_prices(raw: str) -> dict[str, Decimal]:
    """'MTN=0.25,other=0.30' as {carrier in lower case: price per part}."""
    prices = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        carrier, _, price = pair.partition("=")
        prices[carrier.strip().lower()] = Decimal(price.strip())
    return prices


@dataclass
class _Estimate:
    """Counts gathered over the audience."""

    total: int = 0
    duplicates: int = 0
    opted_out: int = 0
    rejected: Counter = field(default_factory=Counter)
    encodings: Counter = field(default_factory=Counter)
    histogram: Counter = field(default_factory=Counter)
    culprits: dict = field(default_factory=dict)
    carriers: dict = field(default_factory=dict)
    sample: list = field(default_factory=list)


class _Measure:
    """Segments, encoding and culprits per distinct text, computed once each."""

    def __init__(self) -> None:
        """Start with nothing measured."""
        self.known: dict[str, tuple[int, str, list[str]]] = {}

    def __call__(self, text: str) -> tuple[int, str, list[str]]:
        """(segments, encoding, UCS-2 culprits) of a text."""
        found = self.known.get(text)
        if found is None:
            found = self.known[text] = (count_segments(text), encoding(text), ucs2_culprits(text))
        return found


def estimate(spec: BroadcastSpec, items: Iterable, service_id: int, region: str, max_chars: int,
             prices: dict[str, Decimal], currency: str) -> dict:
    """Judge and render every recipient as intake would, then count segments and cost per carrier."""
    template = compile_variants(spec.body, spec.variants, spec.channel)
    suppressed, seen, tally, measure = optouts.suppressed(service_id, spec.channel), set(), _Estimate(), _Measure()
    for index, item in enumerate(items):
        to, personalisation = _item_fields(index, item)
        tally.total += 1
        number, verdict = classify(to, region)
        address = number or to.strip()
        if address in seen:
            tally.duplicates += 1
            continue
        seen.add(address)
        status, code, _detail = _judge(template, verdict, personalisation, max_chars)
        if status != "pending":
            tally.rejected[code] += 1
        elif address in suppressed:
            tally.opted_out += 1
        else:
            text = template.render(personalisation)
            _count(tally, measure, address, verdict.carrier, transliterate(text) if spec.transliterate else text)
    if tally.total == 0:
        raise ValidationFailed("recipients is empty", {"field": "recipients"})
    return _answer(spec, tally, prices, currency)


def _count(tally: _Estimate, measure: _Measure, address: str, carrier: str | None, text: str) -> None:
    """Add one sendable message to the histogram, the encodings and its carrier's parts."""
    segments, coding, culprits = measure(text)
    tally.encodings[coding] += 1
    tally.histogram[segments] += 1
    for char in culprits:
        tally.culprits[char] = tally.culprits.get(char, 0) + 1
    messages, parts = tally.carriers.get(carrier or "other", (0, 0))
    tally.carriers[carrier or "other"] = (messages + 1, parts + segments)
    if len(tally.sample) < SAMPLE_SIZE:
        tally.sample.append({"to": address, "body": text, "segments": segments, "encoding": coding})


def _price(prices: dict[str, Decimal], carrier: str) -> Decimal:
    """The price of one part on a carrier, 'other' when it has none of its own."""
    return prices.get(carrier.lower(), prices.get("other", Decimal(0)))


def _answer(spec: BroadcastSpec, tally: _Estimate, prices: dict[str, Decimal], currency: str) -> dict:
    """The dry run's response body."""
    by_carrier = {carrier: {"messages": messages, "segments": parts, "price_per_segment": str(_price(prices, carrier)),
                            "cost": str(parts * _price(prices, carrier))}
                  for carrier, (messages, parts) in sorted(tally.carriers.items())}
    total = sum((Decimal(row["cost"]) for row in by_carrier.values()), Decimal(0))
    audience = sum(tally.histogram.values())
    codings = sorted(tally.encodings)
    return {
        "dry_run": True, "channel": spec.channel, "template": spec.template, "transliterate": spec.transliterate,
        "recipients": tally.total, "audience": audience, "rejected": sum(tally.rejected.values()),
        "rejected_by_reason": dict(tally.rejected), "duplicates": tally.duplicates, "opted_out": tally.opted_out,
        "encoding": codings[0] if len(codings) == 1 else ("mixed" if codings else None),
        "encodings": dict(tally.encodings),
        "ucs2_characters": [{"character": c, "codepoint": f"U+{ord(c):04X}", "messages": n}
                            for c, n in tally.culprits.items()],
        "segments_histogram": {str(k): v for k, v in sorted(tally.histogram.items())},
        "segments": sum(k * v for k, v in tally.histogram.items()),
        "cost": {"currency": currency, "total": str(total), "by_carrier": by_carrier},
        "sample": tally.sample,
    }
