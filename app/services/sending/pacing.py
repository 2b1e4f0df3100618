"""Pacing gateway calls under the global rate limits: provider account, carrier route, broadcast.

Every worker thread on every host reserves its slot on one shared Redis timeline
(app.services.sending.rate_limiter) and sleeps until it, so the gateway never sees more
than the configured rate. A 429 pushes the account's timeline back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app

from app.redis_store import get_redis
from app.services.channels import registry
from app.services.sending import rate_limiter
from app.services.state import call_journal

# Longest a thread waits for its slot before giving the rest of its batch back.
MAX_WAIT_SECONDS = 2.0


@lru_cache(maxsize=16)
def _limits(spec: str) -> dict[str, float]:
    """Parsed HERALD_RATE_LIMITS (cached per spec string)."""
    return rate_limiter.parse_rate_limits(spec)


@lru_cache(maxsize=4096)
def units(channel: str, body: str) -> int:
    """What a text counts against the rate limit on its channel (SMS parts)."""
    return registry.get(channel).units(body)


@dataclass(frozen=True)
class Pacer:
    """The buckets a batch's gateway calls go through; empty means no pacing at all."""

    provider: str
    limits: dict
    broadcast_bucket: rate_limiter.Bucket | None
    burst: float = rate_limiter.DEFAULT_BURST

    def buckets(self, carrier: str | None) -> list[rate_limiter.Bucket]:
        """Account, route and broadcast buckets for one call."""
        chosen = rate_limiter.buckets_for(self.limits, self.provider, carrier, self.burst)
        return chosen + [self.broadcast_bucket] if self.broadcast_bucket else chosen

    @property
    def active(self) -> bool:
        """True when any limit applies."""
        return bool(self.broadcast_bucket) or any(k == self.provider or k.startswith(self.provider + ":")
                                                  for k in self.limits)

    def wait_for_slot(self, carrier: str | None, cost: int, deadline: float, before_sleep=None) -> bool:
        """Reserve `cost` tokens and sleep until they are due; False if that is too far off."""
        buckets = self.buckets(carrier)
        if not buckets:
            return True
        # One Redis call per gateway request is the price of a limit shared by every host;
        # it is only paid when a limit is configured.
        booked = rate_limiter.reserve(get_redis(), buckets, cost, MAX_WAIT_SECONDS)
        if not booked.granted or time.monotonic() + booked.wait > deadline:
            return False
        if booked.wait > 0:
            if before_sleep is not None:
                before_sleep()
            time.sleep(booked.wait)
        return True

    def slow_down(self, seconds: float) -> None:
        """The gateway said 429: hold the account's timeline for Retry-After."""
        bucket = next((b for b in self.buckets(None) if b.key == rate_limiter.provider_key(self.provider)), None)
        if bucket is not None:
            rate_limiter.penalise(get_redis(), bucket, seconds)


def pacer_for(provider: str, broadcast_id=None, broadcast_rate=None) -> Pacer:
    """The pacer for sends through `provider`, with a broadcast's own lower limit if it has one."""
    cfg = current_app.config
    burst = cfg["HERALD_RATE_BURST_SECONDS"]
    bucket = (rate_limiter.Bucket(rate_limiter.broadcast_key(broadcast_id), float(broadcast_rate), burst)
              if broadcast_rate else None)
    return Pacer(provider, _limits(cfg["HERALD_RATE_LIMITS"]), bucket, burst)


def backlog_seconds(accounts: list[str], broadcast_id=None) -> float:
    """How far ahead the timelines are booked or a gateway's Retry-After holds them: the least held
    account's (a routed broadcast may use any of its accounts), or the broadcast's own if later.
    Producer back-pressure."""
    r = get_redis()
    holds = r.pipeline(transaction=False)
    for account in accounts:
        holds.pttl(call_journal.hold_key(account))
    backlog = min(max(rate_limiter.backlog_seconds(r, rate_limiter.provider_key(account)), held / 1000.0)
                  for account, held in zip(accounts, holds.execute()))
    if broadcast_id is not None:
        backlog = max(backlog, rate_limiter.backlog_seconds(r, rate_limiter.broadcast_key(broadcast_id)))
    return backlog
