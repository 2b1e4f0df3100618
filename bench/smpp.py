"""Messages per second through one SMPP bind, windowed, against the sandbox SMSC.

    python -m bench.smpp [--messages 20000] [--windows 1,10,50] [--latency-ms 0,20] [--threads 1]

Each row: one adapter (one bind), send_bulk in chunks from `--threads` sender threads, the
SMSC answering every submit_sm after `latency_ms`. The figure reported as smpp_msgs_per_s is
the best row at latency 0; the latency rows show what the window buys on a real link.
"""
from __future__ import annotations

import argparse
import os
import json
import threading
import time

import psutil

from providers.base import Accepted, OutboundMessage
from providers.smpp import SMPPTransceiver
from tests.smpp_testing import running_smsc

CHUNK = 500


def _messages(count: int, offset: int) -> list[OutboundMessage]:
    """Distinct valid Zambian numbers, one short GSM-7 body."""
    return [OutboundMessage(message_id=offset + i, to=f"+26097{(offset + i) % 10_000_000:07d}",
                            body="Herald bench: rains expected from Monday, plant early.", idempotency_key="")
            for i in range(count)]


def _send_share(adapter: SMPPTransceiver, batch: list[OutboundMessage], accepted: list[int]) -> None:
    """Send one thread's share in chunks; count acceptances."""
    count = 0
    for start in range(0, len(batch), CHUNK):
        count += sum(isinstance(r, Accepted) for r in adapter.send_bulk(batch[start:start + CHUNK]))
    accepted.append(count)


def measure(smsc, messages: int, window: int, latency_ms: float, threads: int) -> dict:
    """One row: messages/s and how many were accepted."""
    smsc.reset()
    smsc.configure(latency_ms=latency_ms, smpp_receipts=False)
    adapter = SMPPTransceiver(**smsc.settings(window_size=window, response_timeout=30.0))
    adapter.send(_messages(1, 10_000_000)[0])  # bind outside the timed part
    share = messages // threads
    accepted: list[int] = []
    workers = [threading.Thread(target=_send_share, args=(adapter, _messages(share, n * share), accepted))
               for n in range(threads)]
    server = psutil.Process(smsc.pid)
    server_cpu, client_cpu = _cpu(server), time.process_time()
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(600)
    elapsed = time.perf_counter() - started
    client_cpu, server_cpu = time.process_time() - client_cpu, _cpu(server) - server_cpu
    adapter.close()
    done = max(1, sum(accepted))
    return {"window": window, "latency_ms": latency_ms, "threads": threads, "messages": share * threads,
            "accepted": sum(accepted), "seconds": round(elapsed, 3), "msgs_per_s": round(sum(accepted) / elapsed, 1),
            "client_cpu_us_per_msg": round(client_cpu / done * 1e6, 1),
            "smsc_cpu_us_per_msg": round(server_cpu / done * 1e6, 1),
            "max_outstanding": smsc.ledger()["smpp"]["max_outstanding"], "load": round(os.getloadavg()[0], 1)}


def _cpu(process: psutil.Process) -> float:
    """User plus system CPU seconds a process has used."""
    times = process.cpu_times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> dict:
    """Run every (latency, window) row and print them as JSON lines, then the headline figure."""
    parser = argparse.ArgumentParser(prog="python -m bench.smpp", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--windows", default="1,10,50")
    parser.add_argument("--latency-ms", default="0,20")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    rows = []
    with running_smsc() as smsc:
        for latency in (float(v) for v in args.latency_ms.split(",")):
            for window in (int(v) for v in args.windows.split(",")):
                # A 1-wide window at 20 ms is 50 msg/s: cap its count so the row takes seconds, not minutes.
                count = args.messages if latency * 1 <= 0 or window > 1 else min(args.messages, 500)
                rows.append(measure(smsc, count, window, latency, args.threads))
                print(json.dumps(rows[-1]), flush=True)
    best = max(r["msgs_per_s"] for r in rows if r["latency_ms"] == 0) if any(
        r["latency_ms"] == 0 for r in rows) else None
    summary = {"smpp_msgs_per_s": best, "rows": rows}
    print(json.dumps({"smpp_msgs_per_s": best}))
    return summary


if __name__ == "__main__":
    main()
