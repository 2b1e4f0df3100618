"""One global rate limit shared by two worker processes of several threads, measured at the gateway."""
from __future__ import annotations

from herald_testing import wait_until
from pipeline_checks import assert_each_accepted_once, gone_out, start_broadcast, summary, wait_completed

RATE = 400
STACK_SETTINGS = {"HERALD_RATE_LIMITS": f"africastalking={RATE}", "HERALD_SEND_THREADS": 4,
                  "HERALD_BATCH_SIZE": 200}
STACK_WORKERS = 2


def steady_rate(per_second: dict[str, int], seconds: int = 10) -> float:
    """Mean gateway-side rate over `seconds` full seconds in the middle of the run."""
    ticks = sorted(int(t) for t in per_second)
    start = ticks[0] + 3
    window = [per_second.get(str(t), 0) for t in range(start, start + seconds)]
    return sum(window) / seconds


def test_rate_limit_holds_across_processes_within_five_percent(gateway, client, service):
    gateway.sandbox("POST", "/_sandbox/config", json={"rate_limit_per_s": RATE})
    count = 6000
    broadcast_id = start_broadcast(client, service, count)
    wait_completed(client, service, broadcast_id, timeout=90)
    ledger = gateway.ledger()
    assert ledger["rate_limited"] == 0
    assert_each_accepted_once(ledger, count)
    rate = steady_rate(ledger["accepted_per_second"])
    assert RATE * 0.95 <= rate <= RATE * 1.05, rate


def test_a_broadcast_may_set_a_lower_rate_of_its_own(gateway, client, service):
    count = 600
    broadcast_id = start_broadcast(client, service, count, rate_limit_per_second=50)
    wait_until(lambda: gone_out(summary(client, service, broadcast_id)) > 0, 30, 0.1, "sending")
    wait_completed(client, service, broadcast_id, timeout=60)
    per_second = gateway.ledger()["accepted_per_second"]
    ticks = sorted(int(t) for t in per_second)
    middle = [per_second.get(str(t), 0) for t in range(ticks[0] + 1, ticks[-1])]
    assert max(middle) <= 50 * 1.1 + 3
    assert sum(middle) / len(middle) >= 50 * 0.9
