"""down_for_s: the sandbox refuses connections for a while, then listens again by itself."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

OUTAGE_S = 1.5


def refused(base_url: str) -> bool:
    """Whether a new connection to the sandbox is refused."""
    try:
        requests.get(f"{base_url}/_sandbox/config", timeout=1)
        return False
    except requests.ConnectionError:
        return True


def kept_alive_socket(base_url: str) -> socket.socket:
    """A raw connection that has had one answer and stays open (keep-alive)."""
    port = int(base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /_sandbox/config HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    return sock


@pytest.mark.parametrize("value", [0, -1, "5", True, 3601])
def test_bad_outage_lengths_are_refused_and_nothing_applied(sandbox, value):
    response = sandbox.configure(latency_ms=5, down_for_s=value)
    assert response.status_code == 400
    assert sandbox.http.get(f"{sandbox.base_url}/_sandbox/config", timeout=5).json()["latency_ms"] == 0


def test_outage_refuses_drops_idle_connections_and_comes_back_with_the_ledger(sandbox, wait_until):
    assert sandbox.send("+260971234567", keys="before").status_code == 201
    idle = kept_alive_socket(sandbox.base_url)

    started = time.monotonic()
    assert sandbox.configure(down_for_s=OUTAGE_S).status_code == 200
    assert wait_until(lambda: refused(sandbox.base_url), 1.0, 0.02)
    idle.settimeout(2)
    try:
        assert idle.recv(1) == b""  # closed by the sandbox
    except ConnectionResetError:
        pass
    idle.close()

    assert wait_until(lambda: not refused(sandbox.base_url), OUTAGE_S + 5, 0.05)
    back_after = time.monotonic() - started
    assert OUTAGE_S - 0.2 <= back_after <= OUTAGE_S + 3
    assert sandbox.ledger()["accepted"] == 1
    assert sandbox.send("+260961234567", keys="after").status_code == 201


def test_an_answer_held_back_by_latency_still_goes_out_before_the_connection_closes(sandbox, wait_until):
    sandbox.configure(latency_ms=600).raise_for_status()
    answers: list = []
    sender = threading.Thread(target=lambda: answers.append(sandbox.send("+260971234567", keys="held")))
    sender.start()
    time.sleep(0.2)  # the request is in, its answer held back by the latency
    assert requests.post(f"{sandbox.base_url}/_sandbox/config", json={"down_for_s": OUTAGE_S},
                         timeout=5).status_code == 200
    sender.join(timeout=10)
    assert answers and answers[0].status_code == 201
    assert wait_until(lambda: not refused(sandbox.base_url), OUTAGE_S + 5, 0.05)
    assert sandbox.ledger()["accepted"] == 1
