"""The dry run: what a broadcast would send and cost, judged as intake judges and rendered as sent; writes nothing."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator

from app.services.intake import broadcast_content
from app.services.intake.broadcast_content import Scan, judge
from app.services.intake.broadcast_request import BroadcastSpec
from app.services.intake.intake import Audience
from app.statuses import MessageStatus
from providers.parts import count_segments, encoding, ucs2_culprits

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


def judged(spec: BroadcastSpec, audience: Audience, service_id: int, max_chars: int, scan: Scan) -> Iterator[tuple]:
    """(candidate, (status, error code, detail), text or None) per distinct recipient, judged and rendered as sent."""
    content = broadcast_content.for_spec(spec, max_chars)
    for candidate in audience.candidates(service_id, spec.channel, scan):
        verdict = judge(content, candidate)
        sendable = verdict[0] == MessageStatus.PENDING
        yield candidate, verdict, content.render(candidate.personalisation) if sendable else None


def estimate(spec: BroadcastSpec, audience: Audience, service_id: int, max_chars: int, prices: dict[str, Decimal],
             currency: str) -> dict:
    """Judge and render every recipient of the audience as intake would, then count segments and cost per carrier."""
    scan, tally, measure = Scan(), _Estimate(), _Measure()
    for candidate, (status, code, _detail), text in judged(spec, audience, service_id, max_chars, scan):
        if status == MessageStatus.REJECTED:
            tally.rejected[code] += 1
        elif status == MessageStatus.OPTED_OUT:
            tally.opted_out += 1
        else:
            _count(tally, measure, candidate.address, candidate.verdict.carrier, text)
    tally.total, tally.duplicates = scan.total, scan.duplicates
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


def _judged_counts(tally: _Estimate, audience: int) -> dict:
    """How the entries were judged: read, sendable, rejected (and why), duplicates, opted out."""
    return dict(recipients=tally.total, audience=audience, rejected=sum(tally.rejected.values()),
                rejected_by_reason=dict(tally.rejected), duplicates=tally.duplicates, opted_out=tally.opted_out)


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
        **_judged_counts(tally, audience),
        "encoding": codings[0] if len(codings) == 1 else ("mixed" if codings else None),
        "encodings": dict(tally.encodings),
        "ucs2_characters": [{"character": c, "codepoint": f"U+{ord(c):04X}", "messages": n}
                            for c, n in tally.culprits.items()],
        "segments_histogram": {str(k): v for k, v in sorted(tally.histogram.items())},
        "segments": sum(k * v for k, v in tally.histogram.items()),
        "cost": {"currency": currency, "total": str(total), "by_carrier": by_carrier},
        "sample": tally.sample,
    }
