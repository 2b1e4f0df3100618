"""Measure AfricasTalkingSMS.send() requests/s against a minimal keep-alive loopback server.

Run: .venv/bin/python tests/providers/bench_africastalking.py [--threads 4] [--seconds 5] [--baseline]
The server runs in its own process so it does not compete with the client for the GIL.
--baseline also measures the same POST through urllib3.HTTPConnectionPool for comparison.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from typing import Callable

import urllib3

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(_HERE)))

from providers.africastalking import AfricasTalkingSMS  # noqa: E402
from providers.base import Accepted, OutboundMessage  # noqa: E402
from sandbox.rawclient import content_length  # noqa: E402

_BODY = (
    b'{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: ZMW 0.2500","Recipients":[{"statusCode":101,'
    b'"number":"+260971234567","status":"Success","cost":"ZMW 0.2500","messageId":"ATXid_1","messageParts":1}]}}'
)
_RESPONSE = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_BODY)).encode()
    + b"\r\n\r\n"
    + _BODY
)


class _CannedProtocol(asyncio.Protocol):
    """Answers every complete HTTP/1.1 request on a connection with the same 201."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start with an empty buffer."""
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        """Answer each complete request in the buffer."""
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = content_length(self.buffer[:end])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(_RESPONSE)


def serve() -> None:
    """Run the canned server on an ephemeral loopback port; print the port, then serve until killed."""

    async def main() -> None:
        """Listen and report the port."""
        server = await asyncio.get_running_loop().create_server(_CannedProtocol, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


def adapter_sender(port: int, threads: int) -> Callable[[int], Callable[[], bool]]:
    """Per-thread send() callables of one shared adapter."""
    adapter = AfricasTalkingSMS(
        base_url=f"http://127.0.0.1:{port}", username="bench", api_key="k", sender_id="HERALD", pool_maxsize=threads
    )

    def for_thread(slot: int) -> Callable[[], bool]:
        """One thread's send of its own message."""
        msg = OutboundMessage(slot, to="+260971234567", body="Your code is 123456", idempotency_key=f"k{slot}")
        return lambda: isinstance(adapter.send(msg), Accepted)

    return for_thread


def pool_sender(port: int, threads: int) -> Callable[[int], Callable[[], bool]]:
    """Baseline: the same POST through urllib3.HTTPConnectionPool.urlopen, retries off."""
    timeout = urllib3.Timeout(connect=3.0, read=15.0)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=threads, block=True, timeout=timeout)
    headers = {"apiKey": "k", "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    body = b"username=bench&bulkSMSMode=1&from=HERALD&to=%2B260971234567&message=Your+code+is+123456"

    def send() -> bool:
        """POST once and parse the JSON answer."""
        response = pool.urlopen(
            "POST", "/version1/messaging", body=body, headers=headers, retries=False, assert_same_host=False
        )
        return response.status == 201 and bool(json.loads(response.data))

    return lambda slot: send


def measure(make_sender: Callable[[int], Callable[[], bool]], threads: int, seconds: float) -> tuple[float, float]:
    """(requests/s, client CPU microseconds per request) over `seconds` after a warm-up."""
    senders = [make_sender(slot) for slot in range(threads)]
    counts = [0] * threads
    failures = [0] * threads
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    stop = threading.Event()

    def worker(slot: int) -> None:
        """Warm up, then send until told to stop."""
        send = senders[slot]
        for _ in range(50):
            send()
        ready.wait(timeout=30)
        go.wait(timeout=30)
        while not stop.is_set():
            if send():
                counts[slot] += 1
            else:
                failures[slot] += 1

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait(timeout=30)
    began, cpu_began = time.perf_counter(), time.process_time()
    go.set()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=30)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    if any(failures):
        raise RuntimeError(f"{sum(failures)} sends were not accepted")
    total = sum(counts)
    return total / elapsed, cpu / total * 1e6


def main() -> None:
    """Start the server process, measure adapter and baseline in alternation, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also measure urllib3.HTTPConnectionPool")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        contenders = [("AfricasTalkingSMS.send()", adapter_sender)]
        if args.baseline:
            contenders.append(("urllib3 HTTPConnectionPool", pool_sender))
        for round_no in range(1, args.rounds + 1):
            for label, factory in contenders:
                rate, cpu = measure(factory(port, args.threads), args.threads, args.seconds)
                print(
                    f"round {round_no}  {label:28s} {rate:7,.0f} req/s  "
                    f"{cpu:5.0f} us client CPU/req  ({args.threads} threads)"
                )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
