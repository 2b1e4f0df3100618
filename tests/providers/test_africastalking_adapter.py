"""Africa's Talking adapter: connections shared across threads and forks, and its settings."""
from __future__ import annotations

import os
import threading
import time

import pytest

from at_gateway import message
from providers.africastalking import AfricasTalkingSMS
from providers.base import Accepted, ProviderConfigError

NUMBER = "+260971234567"


# ---- concurrency and fork ---------------------------------------------------------------


def test_many_threads_share_kept_alive_connections(gateway, make_adapter):
    adapter = make_adapter(pool_maxsize=8)
    results: list[object] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        """Send a few messages and keep the outcomes."""
        for i in range(10):
            outcome = adapter.send(message(f"+2609710{offset:02d}{i:03d}", message_id=offset * 100 + i))
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 80
    assert all(isinstance(r, Accepted) for r in results)
    # Never more connections than threads sending at once: they are reused, not reopened.
    assert len({r.client_port for r in gateway.requests}) <= 8


def test_idle_connections_beyond_pool_maxsize_are_closed(gateway, make_adapter):
    adapter = make_adapter(pool_maxsize=2)
    barrier = threading.Barrier(6)

    def worker() -> None:
        """Start sending together so six connections are open at once."""
        barrier.wait(timeout=5)
        adapter.send(message())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(adapter._connections()._idle) <= 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# Forking with the gateway's threads running is the point: it mirrors Celery's prefork pool.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connections(gateway, make_adapter):
    adapter = make_adapter()
    adapter.send(message(NUMBER))
    parent_port = gateway.requests[0].client_port

    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child process
        code = 1
        try:
            code = 0 if isinstance(adapter.send(message(NUMBER)), Accepted) else 2
        finally:
            os._exit(code)

    exit_code = _wait_for_child(child, timeout=10)
    assert exit_code == 0
    assert len(gateway.requests) == 2
    assert gateway.requests[1].client_port != parent_port
    # The parent's own connection is untouched and still reused.
    adapter.send(message(NUMBER))
    assert gateway.requests[2].client_port == parent_port


def _wait_for_child(pid: int, timeout: float) -> int:
    """Wait a bounded time for a child; kill it if it overstays."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("forked child did not finish in time")


# ---- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["base_url", "username", "api_key"])
def test_required_settings(missing):
    settings = {"base_url": "http://127.0.0.1:8025", "username": "u", "api_key": "k"}
    settings[missing] = ""

    with pytest.raises(ProviderConfigError, match=missing):
        AfricasTalkingSMS(**settings)


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "ftp://example"},
        {"base_url": "127.0.0.1:8025"},
        {"honours_idempotency_key": "maybe"},
        {"max_bulk_recipients": 0},
        {"read_timeout": "soon"},
        {"connect_timeout": -1},
    ],
)
def test_invalid_settings(bad):
    settings = {"base_url": "http://127.0.0.1:8025", "username": "u", "api_key": "k", **bad}

    with pytest.raises(ProviderConfigError):
        AfricasTalkingSMS(**settings)


def test_string_settings_are_coerced():
    adapter = AfricasTalkingSMS(
        base_url="http://127.0.0.1:8025",
        username="u",
        api_key="k",
        honours_idempotency_key="false",
        max_bulk_recipients="50",
        read_timeout="2.5",
    )

    assert adapter.honours_idempotency_key is False
    assert adapter.max_bulk_recipients == 50
    assert adapter.read_timeout == 2.5


def test_per_instance_capabilities():
    honest = AfricasTalkingSMS(
        base_url="http://127.0.0.1:8025", username="u", api_key="k", honours_idempotency_key=True
    )
    real = AfricasTalkingSMS(base_url="https://api.africastalking.com", username="u", api_key="k")

    assert (honest.honours_idempotency_key, real.honours_idempotency_key) == (True, False)
    assert real.max_bulk_recipients == 100


def test_repr_does_not_leak_the_api_key():
    adapter = AfricasTalkingSMS(base_url="http://127.0.0.1:8025", username="u", api_key="s3cret")

    assert "s3cret" not in repr(adapter)
