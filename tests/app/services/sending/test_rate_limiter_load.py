"""The shared GCRA limiter on a real Redis: processes of threads never exceed the rate together."""
from __future__ import annotations

import json
import select
import subprocess
import sys
import uuid

import pytest
import redis

from rate_limiter_testing import busiest_window

from herald_testing import ROOT
REAL_REDIS_URL = "redis://127.0.0.1:6379/12"


# Run in each child process: once its imports are done it says "ready", reads the shared run's
# begin and end (Redis time), and its threads reserve cost 1 repeatedly. Each thread holds one
# reservation at a time and wakes LEAD seconds before its start, as a worker preparing the request
# would, so a busy test machine delaying a thread briefly does not leave the shared timeline idle.
WORKER = r"""
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
import redis
from app.services.sending.rate_limiter import Bucket, reserve

url, key = sys.argv[2], sys.argv[3]
rate, burst, LEAD = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
threads = int(sys.argv[7])
client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
client.ping()
bucket = Bucket(key, rate, burst)
lock = threading.Lock()
starts, refused = [], [0]
print("ready", flush=True)
begin, end = (float(v) for v in sys.stdin.readline().split())

def run():
    mine, misses = [], 0
    for _ in range(20000):
        res = reserve(client, [bucket], 1, 5.0)
        if not res.granted:
            misses += 1
            time.sleep(0.01)
            continue
        if res.start_at >= end:
            break
        # Sleep relative to Redis's answer rather than comparing start_at with this host's clock.
        time.sleep(max(0.0, res.wait - LEAD))
        mine.append(res.start_at)
    with lock:
        starts.extend(mine)
        refused[0] += misses

# Same host as the Redis under test, so the local clock is good enough to line the children up.
time.sleep(max(0.0, begin - time.time()))
pool = [threading.Thread(target=run) for _ in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join(timeout=30)
print(json.dumps({"starts": starts, "refused": refused[0]}))
"""


@pytest.fixture
def real_redis():
    """The real Redis db 12, or a skip when no server answers within a second."""
    client = redis.Redis.from_url(REAL_REDIS_URL, decode_responses=True, socket_connect_timeout=1,
                                  socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        client.close()
        pytest.skip(f"no Redis at {REAL_REDIS_URL}: {exc}")
    yield client
    client.close()


def wait_ready(child: subprocess.Popen, timeout: float) -> None:
    """Block until a child prints its ready line, failing after `timeout` seconds."""
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, "worker did not start in time"
    assert child.stdout.readline().strip() == "ready", child.stderr.read()


def test_two_processes_of_eight_threads_never_exceed_the_rate(real_redis):
    """16 senders in 2 processes share one 200/s bucket: no 1 s window over rate + burst, total on rate."""
    rate, burst, duration, lead, threads = 200.0, 0.05, 3.0, 0.2, 8
    key = f"herald:test:rate:{uuid.uuid4().hex}"
    argv = [sys.executable, "-c", WORKER, ROOT, REAL_REDIS_URL, key, str(rate), str(burst), str(lead),
            str(threads)]
    children = [subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for child in children:
            wait_ready(child, 30)
        seconds, micros = real_redis.time()
        begin = seconds + micros / 1e6 + 0.5
        end = begin + duration
        for child in children:
            child.stdin.write(f"{begin!r} {end!r}\n")
            child.stdin.flush()
        results = [child.communicate(timeout=duration + 30) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        real_redis.delete(key)
    assert all(child.returncode == 0 for child in children), [err for _, err in results]
    runs = [json.loads(out) for out, _ in results]
    assert all(run["starts"] for run in runs), "both processes must have sent"
    assert sum(run["refused"] for run in runs) == 0
    starts = sorted(s for run in runs for s in run["starts"])
    assert begin - 0.01 <= starts[0] and starts[-1] < end
    assert busiest_window(starts) <= rate + burst * rate + 1
    # Measured from the first start, so a child that was slow to wake at `begin` does not count against it.
    active = end - starts[0]
    assert active > duration - 0.5
    assert abs(len(starts) - rate * active) <= 0.05 * rate * active
