"""Cluster-wide send pacing: a reservation form of GCRA kept in Redis and shared by every sender.

Every bucket i has a rate r_i (tokens per second), an emission interval T_i = 1 / r_i and a burst
tolerance tau_i (seconds). Its whole state is one theoretical arrival time, tat_i: the moment at
which everything already reserved on it has been paid for. For a reservation of k tokens asked at
Redis time `now` on buckets 1..n:

    start  = max(now, max_i(tat_i - tau_i))          earliest moment every bucket admits it
    T_max  = max_i(T_i)                               interval of the tightest bucket
    last   = start + (k - 1) * T_max                  the caller paces the k tokens T_max apart
    tat_i' = max(tat_i + k * T_i, last + T_i)         exact GCRA result of those k paced sends

For the tightest bucket tat' = max(tat, start) + k * T (plain GCRA), so sustained demand gets
exactly r tokens per second. A bucket conforming to (T, tau) is a token bucket of rate r and
capacity tau * r + k: at most tau * r tokens bunch ahead of the one starting now, and any window of
W seconds holds at most W * r + tau * r + k tokens. Looser buckets are charged for when the paced
tokens really leave rather than as if all k left at `start`, so a slow route's batch can never be
counted early on the provider and let other routes overfill it later.

Time is always Redis's TIME, never a host's clock, and returned times are Redis-clock seconds.
On Redis Cluster the buckets of one reserve() must share a hash slot (use a {hash tag} in the keys).
"""
from __future__ import annotations

import math
import re
import weakref
from dataclasses import dataclass
from typing import Iterable, Sequence

import redis

DEFAULT_BURST = 0.05
MAX_RATE = 100_000.0

_OP_RESERVE = "reserve"
_OP_PENALISE = "penalise"
_OP_BACKLOG = "backlog"

_LUA = """
local clock = redis.call('TIME')
-- All arithmetic is relative to the current whole second: a double near 1.8e9 resolves only about
-- 0.24 us, and adding 1/rate to one over and over would skew the rate by up to half that per token.
local base = tonumber(clock[1])
local now = tonumber(clock[2]) / 1000000
-- Keys outlive their timeline by this much, so an idle limiter vanishes on its own.
local MARGIN_MS = 3000

-- %.17g round-trips a double exactly; a bare number reply would be truncated to an integer.
local function fmt(x)
  return string.format('%.17g', x)
end

-- A timeline is stored as "<whole second>:<offset seconds>" so the offset stays small and precise.
local function read_tat(key)
  local stored = redis.call('GET', key)
  local anchor, offset
  if stored then
    anchor, offset = string.match(stored, '^(%d+):(.+)$')
  end
  if not anchor then
    return now
  end
  return (tonumber(anchor) - base) + tonumber(offset)
end

local function write_tat(key, tat)
  redis.call('SET', key, clock[1] .. ':' .. fmt(tat), 'PX', math.ceil((tat - now) * 1000) + MARGIN_MS)
end

local function reserve()
  local cost = tonumber(ARGV[2])
  local max_wait = tonumber(ARGV[3])
  local tats, emissions = {}, {}
  local start, interval = now, 0
  for i = 1, #KEYS do
    local emission = 1 / tonumber(ARGV[2 + 2 * i])
    local tat = read_tat(KEYS[i])
    tats[i], emissions[i] = tat, emission
    start = math.max(start, tat - tonumber(ARGV[3 + 2 * i]))
    interval = math.max(interval, emission)
  end
  if start - now > max_wait then
    return {0, fmt(base + now), fmt(start - now), fmt(interval)}
  end
  -- The caller spaces the tokens `interval` apart, so the last one leaves at `last`.
  local last = start + (cost - 1) * interval
  for i = 1, #KEYS do
    write_tat(KEYS[i], math.max(tats[i] + cost * emissions[i], last + emissions[i]))
  end
  return {1, fmt(base + now), fmt(start - now), fmt(interval)}
end

local function penalise()
  local burst = tonumber(ARGV[3])
  -- Parking the timeline a burst past the hold makes the first start exactly at the hold, unbunched.
  local tat = math.max(read_tat(KEYS[1]), now + tonumber(ARGV[2]) + burst)
  write_tat(KEYS[1], tat)
  return fmt(base + tat - burst)
end

local function backlog()
  return fmt(math.max(0, read_tat(KEYS[1]) - now))
end

local op = ARGV[1]
if op == 'reserve' then
  return reserve()
elseif op == 'penalise' then
  return penalise()
elseif op == 'backlog' then
  return backlog()
end
return redis.error_reply('unknown rate limiter op: ' .. tostring(op))
"""

# One registered Script per client: EVALSHA with a reload on NOSCRIPT, and no leak once a client goes.
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_NAME = r"[A-Za-z0-9_.-]+"
_LIMIT_NAME = re.compile(rf"{_NAME}(?::{_NAME})?")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One shared timeline: a Redis key, its rate in tokens per second and its burst in seconds."""

    key: str
    rate: float
    burst: float = DEFAULT_BURST

    def __post_init__(self) -> None:
        """Refuse buckets the script could not pace sensibly."""
        if not self.key:
            raise ValueError("bucket key must not be empty")
        if not (0 < self.rate <= MAX_RATE):
            raise ValueError(f"bucket {self.key}: rate {self.rate!r} must be in (0, {MAX_RATE:g}]")
        if not (0 <= self.burst < math.inf):
            raise ValueError(f"bucket {self.key}: burst {self.burst!r} must be a finite number >= 0")


@dataclass(frozen=True, slots=True)
class Reservation:
    """The answer to reserve(); times are Redis-clock seconds since the epoch.

    granted: whether the tokens were reserved (nothing was reserved otherwise).
    wait: seconds from `now` until the first token may leave (also when refused).
    start_at: when the first token may leave; 0.0 when refused.
    interval: seconds per token of the tightest bucket, the spacing for a multi-token reservation.
    cost: tokens reserved (0 when refused).
    now: Redis's time when the script ran; sleep relative to it, since host clocks differ.
    """

    granted: bool
    wait: float
    start_at: float = 0.0
    interval: float = 0.0
    cost: int = 0
    now: float = 0.0


def provider_key(provider: str) -> str:
    """Bucket key of a gateway account."""
    return f"herald:rate:provider:{provider}"


def route_key(provider: str, carrier: str) -> str:
    """Bucket key of one carrier route through a gateway account."""
    return f"herald:rate:route:{provider}:{carrier}"


def broadcast_key(broadcast_id) -> str:
    """Bucket key of a broadcast's own limit."""
    return f"herald:rate:broadcast:{broadcast_id}"


def buckets_for(limits: dict[str, float], provider: str, carrier: str | None = None,
                burst: float = DEFAULT_BURST) -> list[Bucket]:
    """The provider and route buckets that parse_rate_limits() output configures for one send."""
    buckets = []
    if provider in limits:
        buckets.append(Bucket(provider_key(provider), limits[provider], burst))
    route = f"{provider}:{carrier}"
    if carrier is not None and route in limits:
        buckets.append(Bucket(route_key(provider, carrier), limits[route], burst))
    return buckets


def _script(r: redis.Redis):
    """The limiter script registered on this client, registering it the first time."""
    script = _scripts.get(r)
    if script is None:
        script = r.register_script(_LUA)
        _scripts[r] = script
    return script


def reserve(r: redis.Redis, buckets: Sequence[Bucket], cost: int, max_wait: float) -> Reservation:
    """Reserve `cost` tokens on every bucket at once, or nothing if that means waiting over max_wait."""
    if not buckets:
        raise ValueError("reserve needs at least one bucket")
    if type(cost) is not int or cost < 1:
        raise ValueError(f"cost must be a positive integer, not {cost!r}")
    if not (0 <= max_wait < math.inf):
        raise ValueError(f"max_wait must be a finite number >= 0, not {max_wait!r}")
    keys = [b.key for b in buckets]
    args = [_OP_RESERVE, cost, max_wait]
    for b in buckets:
        args += (b.rate, b.burst)
    granted, now, wait, interval = _script(r)(keys=keys, args=args, client=r)
    now, wait = float(now), float(wait)
    if not int(granted):
        return Reservation(False, wait, interval=float(interval), now=now)
    return Reservation(True, wait, now + wait, float(interval), cost, now)


def penalise(r: redis.Redis, bucket: Bucket, seconds: float) -> float:
    """After a 429 with Retry-After, hold the bucket so no new reservation starts before now + seconds.

    Returns the earliest start the bucket now allows. Reservations already granted are not revoked.
    """
    if not (0 <= seconds < math.inf):
        raise ValueError(f"seconds must be a finite number >= 0, not {seconds!r}")
    reply = _script(r)(keys=[bucket.key], args=[_OP_PENALISE, seconds, bucket.burst], client=r)
    return float(reply)


def backlog_seconds(r: redis.Redis, bucket_key: str) -> float:
    """How far the bucket's timeline runs ahead of Redis's now; 0.0 when it is idle."""
    return float(_script(r)(keys=[bucket_key], args=[_OP_BACKLOG], client=r))


def pacing(reservation: Reservation, costs: Iterable[int]) -> list[float]:
    """Send times, in Redis's clock, for requests of these token costs sharing one reservation."""
    if not reservation.granted:
        raise ValueError("cannot pace a refused reservation")
    times = []
    offset = 0
    for cost in costs:
        times.append(reservation.start_at + offset * reservation.interval)
        offset += cost
    if offset > reservation.cost:
        raise ValueError(f"costs add up to {offset}, more than the {reservation.cost} tokens reserved")
    return times


def parse_rate_limits(spec: str) -> dict[str, float]:
    """Parse "provider=rate,provider:carrier=rate" into per-second rates, refusing bad entries."""
    limits: dict[str, float] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            # Tolerate an empty spec and stray commas, which config files pick up easily.
            continue
        name, rate = _parse_limit(entry)
        if name in limits:
            raise ValueError(f"rate limit entry {entry!r}: {name} is configured twice")
        limits[name] = rate
    return limits


def _parse_limit(entry: str) -> tuple[str, float]:
    """One "name=rate" entry, validated."""
    name, sep, value = (part.strip() for part in entry.partition("="))
    if not sep or not _LIMIT_NAME.fullmatch(name):
        raise ValueError(f"rate limit entry {entry!r}: expected provider=rate or provider:carrier=rate")
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"rate limit entry {entry!r}: {value!r} is not a number") from None
    # `not (...)` also catches NaN, which every comparison rejects.
    if not (0 < rate <= MAX_RATE):
        raise ValueError(f"rate limit entry {entry!r}: rate must be in (0, {MAX_RATE:g}] per second")
    return name, rate
