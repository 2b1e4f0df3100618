"""Choosing a route at claim time: per (country, carrier) key, the first candidate whose account is up.

The candidates come from the route table (channels.routes). The choice is made when a batch is
claimed (`plan`), in the same statement that leases the rows, and is written on each row
(provider, route, price): a breaker opening moves the next claims to the next route, and its probe
closing moves them back; an account whose daily quota is spent is passed over the same way. A
message whose every candidate is down is not claimed at all and waits, attempt untouched. A message
whose last call's outcome is unknown is pinned to the account that made it (only that account knows
its idempotency key): it waits for that account alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.services.channels.routes import Route, accounts_of, ordered_candidates
from app.services.sending import breaker


@dataclass(frozen=True)
class Plan:
    """Per (country, carrier) key, most specific first, the candidates whose breaker is closed, in order."""

    regions: list[str]
    prefixes: list[str | None]
    carriers: list[str]
    options: list[list[Route]]
    # Every account of the channel whose breaker is open now.
    down: list[str] = field(default_factory=list)

    @property
    def routes(self) -> list[Route | None]:
        """The route each key takes with no quota spent; None = every candidate down."""
        return self.choose({})

    def choose(self, left: dict[str, int]) -> list[Route | None]:
        """The route each key takes now: the first candidate whose account has quota `left` (absent = unlimited)."""
        return [next((r for r in found if left.get(r.account, 1) > 0), None) for found in self.options]

    def params(self, left: dict[str, int] | None = None) -> dict:
        """The plan as the claim statement's arrays (1-based: the first matching key wins).

        `left` is what each quota-limited account may still take; the claim takes no more rows per
        account, and a row pinned to an account is claimed only while that account is up with quota.
        """
        left = left or {}
        routes = self.choose(left)
        accounts = sorted({r.account for found in self.options for r in found})
        return {"r_region": self.regions, "r_prefix": self.prefixes, "r_carrier": self.carriers,
                "r_usable": [route is not None for route in routes],
                "r_account": [route.account if route else None for route in routes],
                "r_route": [route.name if route else None for route in routes],
                "r_price": [route.price if route else None for route in routes],
                "up_accounts": [a for a in accounts if left.get(a, 1) > 0],
                "left_accounts": list(left), "left_counts": list(left.values())}


def plan(channel: str) -> Plan:
    """Each key's candidates now, skipping accounts whose breaker is open."""
    ordered = ordered_candidates(channel)
    down = [account for account in accounts_of(channel) if breaker.open_reason(account) is not None]
    return Plan([key[0] for key, _found in ordered], [found[0].prefix for _key, found in ordered],
                [key[1] for key, _found in ordered],
                [[r for r in found if r.account not in down] for _key, found in ordered], down)
