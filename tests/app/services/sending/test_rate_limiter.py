"""The shared GCRA limiter: exact timelines on fakeredis with a frozen clock."""
from __future__ import annotations

import fakeredis
import pytest
from fakeredis.commands_mixins import server_mixin

from app.services.sending import rate_limiter
from app.services.sending.rate_limiter import (
    Bucket, Reservation, backlog_seconds, broadcast_key, pacing, penalise, provider_key, reserve, route_key,
)
from rate_limiter_testing import busiest_window

EPOCH = 1_800_000_000.0
# Doubles near 1.8e9 s resolve to about 0.24 us, so timelines are exact only to this much.
TOL = 1e-6


class FrozenClock:
    """A stand-in for the time module behind fakeredis's TIME that moves only when told."""

    def __init__(self, now: float) -> None:
        """Start the clock at `now`."""
        self.now = now

    def time(self) -> float:
        """The current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    """Redis TIME frozen at EPOCH until a test advances it."""
    frozen = FrozenClock(EPOCH)
    monkeypatch.setattr(server_mixin, "time", frozen)
    return frozen


@pytest.fixture
def r(clock) -> fakeredis.FakeRedis:
    """A private fake Redis whose TIME is the frozen clock."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def starts_of(client, buckets, count: int, cost: int = 1, max_wait: float = 1000.0) -> list[float]:
    """Reserve `count` times without the clock moving and return the granted start times."""
    starts = []
    for _ in range(count):
        res = reserve(client, buckets, cost, max_wait)
        assert res.granted
        starts.append(res.start_at)
    return starts


def test_sequential_reservations_are_spaced_cost_over_rate(r):
    """With no burst each reservation starts exactly cost / rate after the previous one."""
    bucket = Bucket("herald:rate:provider:p", rate=50, burst=0)
    expected = EPOCH
    for cost in (1, 3, 2, 1, 5):
        res = reserve(r, [bucket], cost, 10.0)
        assert res.granted and res.cost == cost
        assert res.start_at == pytest.approx(expected, abs=TOL)
        assert res.wait == pytest.approx(expected - EPOCH, abs=TOL)
        assert res.interval == pytest.approx(1 / 50)
        assert res.now == EPOCH
        expected += cost / 50


def test_sustained_demand_gets_exactly_the_rate(r):
    """Once the burst is spent every second holds exactly `rate` starts, each 1/rate apart."""
    bucket = Bucket("herald:rate:provider:p", rate=100, burst=0.052)
    starts = starts_of(r, [bucket], 450)
    steady = [s for s in starts if EPOCH + 1 <= s < EPOCH + 4]
    assert len(steady) == 3 * 100
    gaps = [b - a for a, b in zip(steady, steady[1:])]
    assert min(gaps) == pytest.approx(1 / 100, abs=TOL) and max(gaps) == pytest.approx(1 / 100, abs=TOL)
    assert busiest_window(starts) <= 100 + 0.052 * 100 + 1


def test_burst_allows_that_much_bunching_and_no_more(r, clock):
    """burst * rate tokens may queue ahead of the one starting now; the next one waits."""
    bucket = Bucket("herald:rate:provider:p", rate=100, burst=0.055)
    immediate = starts_of(r, [bucket], 6)
    assert immediate == [EPOCH] * 6
    seventh = reserve(r, [bucket], 1, 1.0)
    assert seventh.wait == pytest.approx(0.005, abs=TOL)
    clock.advance(1.0)
    # Idle long enough, the whole burst is available again.
    assert starts_of(r, [bucket], 6) == [EPOCH + 1.0] * 6
    assert reserve(r, [bucket], 1, 1.0).wait > 0


def test_long_runs_do_not_drift_at_high_rates(r):
    """Thousands of 1/rate steps at 50k/s land exactly where k/rate says, with no rounding creep."""
    bucket = Bucket(provider_key("p"), rate=50_000, burst=0)
    starts = starts_of(r, [bucket], 1000)
    assert starts[-1] == pytest.approx(EPOCH + 999 / 50_000, abs=TOL)
    assert r.get(bucket.key).startswith(f"{int(EPOCH)}:")


def test_no_burst_means_no_bunching(r):
    """A zero burst spaces even the first two reservations a full interval apart."""
    bucket = Bucket("herald:rate:provider:p", rate=10, burst=0)
    first, second = starts_of(r, [bucket], 2)
    assert second - first == pytest.approx(0.1, abs=TOL)


def test_tightest_bucket_wins_and_every_timeline_advances(r):
    """Starts follow the slowest bucket and each bucket's timeline records when tokens really leave."""
    provider = Bucket(provider_key("p"), rate=100, burst=0)
    route = Bucket(route_key("p", "MTN"), rate=40, burst=0)
    broadcast = Bucket(broadcast_key(7), rate=10, burst=0)
    starts = starts_of(r, [provider, route, broadcast], 5)
    assert starts == pytest.approx([EPOCH + 0.1 * k for k in range(5)], abs=TOL)
    assert reserve(r, [provider], 1, 0.0).granted is False
    assert backlog_seconds(r, broadcast.key) == pytest.approx(0.5, abs=TOL)
    assert backlog_seconds(r, route.key) == pytest.approx(0.4 + 1 / 40, abs=TOL)
    assert backlog_seconds(r, provider.key) == pytest.approx(0.4 + 1 / 100, abs=TOL)


def test_shared_provider_caps_its_routes_combined(r):
    """Two routes that could each do 40/s share a 60/s account and together get exactly 60/s."""
    provider = Bucket(provider_key("p"), rate=60, burst=0)
    mtn = [provider, Bucket(route_key("p", "MTN"), rate=40, burst=0)]
    airtel = [provider, Bucket(route_key("p", "Airtel"), rate=40, burst=0)]
    by_route = {"MTN": [], "Airtel": []}
    for _ in range(60):
        by_route["MTN"] += starts_of(r, mtn, 1)
        by_route["Airtel"] += starts_of(r, airtel, 1)
    combined = sorted(by_route["MTN"] + by_route["Airtel"])
    assert combined == pytest.approx([EPOCH + k / 60 for k in range(120)], abs=TOL)
    assert busiest_window(combined) <= 60 + 1
    assert all(busiest_window(starts) <= 40 + 1 for starts in by_route.values())


def test_batch_is_paced_at_the_tightest_interval_and_charged_as_paced(r):
    """A cost-5 batch on a slow route holds the provider until its last paced token, not for 5/100 s."""
    provider = Bucket(provider_key("p"), rate=100, burst=0)
    route = Bucket(route_key("p", "MTN"), rate=20, burst=0)
    res = reserve(r, [provider, route], 5, 1.0)
    assert res.interval == pytest.approx(0.05)
    assert pacing(res, [1] * 5) == pytest.approx([EPOCH + 0.05 * k for k in range(5)], abs=TOL)
    assert backlog_seconds(r, provider.key) == pytest.approx(0.2 + 0.01, abs=TOL)
    assert backlog_seconds(r, route.key) == pytest.approx(0.25, abs=TOL)
    other_route = reserve(r, [provider], 1, 1.0)
    assert other_route.start_at == pytest.approx(EPOCH + 0.21, abs=TOL)


def test_refusal_over_max_wait_reserves_nothing(r):
    """A reservation that would wait too long changes no bucket, including the ones that had room."""
    slow = Bucket(broadcast_key(1), rate=1, burst=0)
    fast = Bucket(provider_key("p"), rate=100, burst=0)
    assert reserve(r, [fast, slow], 1, 0.0).granted
    before = (r.get(fast.key), r.get(slow.key))
    refused = reserve(r, [fast, slow], 1, 0.5)
    assert refused == Reservation(False, pytest.approx(1.0, abs=TOL), 0.0, pytest.approx(1.0), 0, EPOCH)
    assert (r.get(fast.key), r.get(slow.key)) == before
    granted = reserve(r, [fast, slow], 1, 1.0)
    assert granted.granted and granted.start_at == pytest.approx(EPOCH + 1.0, abs=TOL)


def test_penalise_holds_starts_until_retry_after(r):
    """After penalise nothing starts before now + seconds, and the restart is not bunched."""
    bucket = Bucket(provider_key("p"), rate=10, burst=0.05)
    assert penalise(r, bucket, 2.0) == pytest.approx(EPOCH + 2.0, abs=TOL)
    assert reserve(r, [bucket], 1, 1.0).granted is False
    first, second = starts_of(r, [bucket], 2)
    assert first == pytest.approx(EPOCH + 2.0, abs=TOL)
    assert second == pytest.approx(EPOCH + 2.1, abs=TOL)


def test_penalise_never_shortens_a_longer_timeline(r):
    """A short Retry-After leaves a timeline that already runs further ahead alone."""
    bucket = Bucket(provider_key("p"), rate=10, burst=0)
    starts_of(r, [bucket], 30)
    assert penalise(r, bucket, 1.0) == pytest.approx(EPOCH + 3.0, abs=TOL)
    assert backlog_seconds(r, bucket.key) == pytest.approx(3.0, abs=TOL)


def test_penalise_rejects_bad_seconds(r):
    """A negative or infinite hold is a caller bug."""
    bucket = Bucket(provider_key("p"), rate=10)
    for seconds in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            penalise(r, bucket, seconds)


def test_backlog_seconds_tracks_the_timeline(r, clock):
    """Backlog is how far the timeline runs ahead of Redis time, and 0 when idle or unknown."""
    bucket = Bucket(provider_key("p"), rate=10, burst=0)
    assert backlog_seconds(r, bucket.key) == 0.0
    starts_of(r, [bucket], 4)
    assert backlog_seconds(r, bucket.key) == pytest.approx(0.4, abs=TOL)
    clock.advance(0.15)
    assert backlog_seconds(r, bucket.key) == pytest.approx(0.25, abs=TOL)
    clock.advance(1.0)
    assert backlog_seconds(r, bucket.key) == 0.0


def test_keys_expire_a_little_after_their_timeline(r):
    """Every bucket key carries a TTL of its backlog plus a few seconds."""
    bucket = Bucket(provider_key("p"), rate=10, burst=0)
    starts_of(r, [bucket], 20)
    ttl_ms = r.pttl(bucket.key)
    # The script rounds the TTL up to a whole millisecond, so float noise may add one.
    assert 2000 < ttl_ms <= 2000 + 3000 + 1


def test_script_is_registered_once_and_reloaded_after_a_flush(r):
    """The same Script serves every call on a client, and EVALSHA falls back when Redis forgot it."""
    assert rate_limiter._script(r) is rate_limiter._script(r)
    bucket = Bucket(provider_key("p"), rate=10, burst=0)
    reserve(r, [bucket], 1, 1.0)
    r.script_flush()
    assert reserve(r, [bucket], 1, 1.0).start_at == pytest.approx(EPOCH + 0.1, abs=TOL)


@pytest.mark.parametrize("buckets, cost, max_wait", [
    ([], 1, 1.0), (None, 0, 1.0), (None, 1.5, 1.0), (None, True, 1.0), (None, 1, -1.0), (None, 1, float("nan")),
])
def test_reserve_rejects_bad_arguments(r, buckets, cost, max_wait):
    """No buckets, non-positive or fractional costs and negative waits are caller bugs."""
    buckets = [Bucket(provider_key("p"), rate=10)] if buckets is None else buckets
    with pytest.raises(ValueError):
        reserve(r, buckets, cost, max_wait)


def test_pacing_spaces_requests_by_their_token_costs():
    """Each request starts `interval` per token after the previous one."""
    res = Reservation(True, 0.0, 100.0, 0.1, 4, 100.0)
    assert pacing(res, [1, 2, 1]) == pytest.approx([100.0, 100.1, 100.3])
    assert pacing(res, [1]) == [100.0]
    assert pacing(res, []) == []


def test_pacing_refuses_overspending_and_refusals():
    """Pacing more tokens than reserved, or a refused reservation, is a caller bug."""
    with pytest.raises(ValueError, match="more than the 4 tokens"):
        pacing(Reservation(True, 0.0, 100.0, 0.1, 4, 100.0), [2, 2, 1])
    with pytest.raises(ValueError, match="refused"):
        pacing(Reservation(False, 3.0), [1])
