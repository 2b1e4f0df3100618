"""`make demo`: send a 50,000-recipient advisory through the running local stack and watch it land.

Expects `scripts/stack.py up` to have started the stack. Prints live progress,
a per-carrier table at the end, and the URLs and API key to keep using.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time

import requests
from stack_env import flower_auth
from stack_layout import Stack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

API = os.environ.get("HERALD_API_URL", "http://127.0.0.1:8000")
SANDBOX = os.environ.get("HERALD_SANDBOX_URL", "http://127.0.0.1:8025")
FLOWER = os.environ.get("HERALD_FLOWER_URL", "http://127.0.0.1:5555")
PREFIXES = ("96", "76", "97", "77", "95")
# Sandbox magic suffixes: delivery fails, subscriber absent, number blacklisted.
MAGIC = {"888888": 50, "777777": 50, "999999": 20}
TOTAL = int(os.environ.get("HERALD_DEMO_RECIPIENTS", "50000"))
# How long to wait after completion for the last delivery reports.
REPORT_WAIT_SECONDS = 180


def audience(total: int) -> list[dict]:
    """Distinct Zambian numbers over MTN, Airtel and Zamtel, with a few the sandbox will fail."""
    rng = random.Random(2026)
    chosen: set[str] = set()
    for suffix, count in MAGIC.items():
        for i in range(count):
            chosen.add(f"+260{PREFIXES[i % 5]}{i // 5}{suffix}")
    while len(chosen) < total:
        number = f"+260{rng.choice(PREFIXES)}{rng.randrange(10_000_000):07d}"
        if number[-6:] not in MAGIC:
            chosen.add(number)
    names = ("Chanda", "Mwila", "Bwalya", "Mutale", "Natasha", "Kabwe", "Lubasi", "Chileshe")
    return [{"to": n, "personalisation": {"name": rng.choice(names)}} for n in sorted(chosen)]


def api_key() -> str:
    """Create the demo service (or another key for it) and return a fresh key."""
    from app import create_app
    from app.extensions import db
    from app.models import Service
    from app.services.control import auth

    app = create_app()
    with app.app_context():
        service = db.session.query(Service).filter_by(name="demo-ministry").first()
        service = service or auth.create_service("demo-ministry")
        return auth.create_api_key(service.id, "demo")


def bar(done: int, total: int, width: int = 30) -> str:
    """A text progress bar."""
    filled = int(width * done / total) if total else width
    return "#" * filled + "." * (width - filled)


def progress_line(s: dict, total: int) -> str:
    """One line of live progress."""
    c = s["counts"]
    out = c["sent"] + c["delivered"] + c["failed"] + c["unreachable"]
    eta = f"{s['eta_seconds']:.0f}s" if s["eta_seconds"] else "-"
    return (f"[{bar(out, total)}] {out:>6,}/{total:,} out | delivered {c['delivered']:>6,} | failed {c['failed']:>4,}"
            f" | unreachable {c['unreachable']:>4,} | pending {c['pending']:>6,} | {s['send_rate_per_second']:>6,.0f}"
            f" msg/s | ETA {eta:>5}")


def watch(key: str, broadcast_id: str, total: int) -> tuple[dict, float | None]:
    """Print progress until the broadcast completes and delivery reports settle (bounded).

    Returns the last summary and the monotonic time the broadcast was first seen completed.
    """
    headers = {"Authorization": f"Bearer {key}"}
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + 1800
    settled_at, last_print = None, 0.0
    while time.monotonic() < deadline:
        s = requests.get(f"{API}/v1/broadcasts/{broadcast_id}", headers=headers, timeout=30).json()
        if tty:
            sys.stdout.write("\r" + progress_line(s, total) + "  ")
            sys.stdout.flush()
        elif time.monotonic() - last_print >= 5:
            print(progress_line(s, total), flush=True)
            last_print = time.monotonic()
        if s["status"] == "completed":
            settled_at = settled_at or time.monotonic()
            # Delivery reports trail the sends; wait for them, but not forever.
            if s["counts"]["sent"] == 0 or time.monotonic() - settled_at > REPORT_WAIT_SECONDS:
                print(("\n" if tty else "") + progress_line(s, total))
                return s, settled_at
        time.sleep(1)
    print()
    return s, settled_at


def carrier_table(summary: dict) -> str:
    """Per carrier and the route (and account) its messages took: accepted / delivered / failed / cost."""
    lines = [f"{'carrier':<9}{'route':<19}{'account':<16}{'accepted':>9}{'delivered':>10}{'failed':>7}"
             f"{'unreachable':>12}{'cost (ZMW)':>12}"]
    for v in summary["paths"]:
        lines.append(f"{v['carrier']:<9}{v['route'] or '-':<19}{v['account']:<16}{v['accepted']:>9,}"
                     f"{v.get('delivered', 0):>10,}{v.get('failed', 0):>7,}{v.get('unreachable', 0):>12,}"
                     f"{v['cost']:>12}")
    return "\n".join(lines)


def main() -> None:
    """Post the demo broadcast, watch it, print the table and where to look next."""
    key = api_key()
    requests.post(f"{SANDBOX}/_sandbox/config", json={"temp_failure_rate": 0.02}, timeout=10)
    recipients = audience(TOTAL)
    started = time.perf_counter()
    response = requests.post(f"{API}/v1/broadcasts", timeout=120, headers={"Authorization": f"Bearer {key}"},
                             json={"channel": "sms", "recipients": recipients,
                                   "body": "Hello ((name)), the Ministry of Agriculture advises: rains from Monday. "
                                           "Plant early maize now."})
    response.raise_for_status()
    created = response.json()
    print(f"POST /v1/broadcasts answered in {time.perf_counter() - started:.2f}s: {created['accepted']:,} accepted, "
          f"{created['rejected']:,} rejected (id {created['id']})")
    posted = time.monotonic()
    summary, completed_at = watch(key, created["id"], created["accepted"])
    sending = f"every message out {completed_at - posted:.0f}s after the POST" if completed_at else "still sending"
    print(f"\nBroadcast {summary['status']}: {sending}, delivery reports followed for "
          f"{time.monotonic() - (completed_at or posted):.0f}s more; total cost ZMW {summary['cost']}")
    print(carrier_table(summary))
    ledger = requests.get(f"{SANDBOX}/_sandbox/ledger", params={"detail": "0"}, timeout=30).json()
    print(f"\nSandbox ledger: {ledger['accepted']:,} accepted, {ledger['replays']:,} idempotent replays, "
          f"{ledger['temporary_failures']:,} temporary failures retried")
    print(f"\nDashboard  {API}/dashboard#key={key}")
    print(f"API        {API}  (Authorization: Bearer {key})")
    print(f"Broadcast  {API}/v1/broadcasts/{created['id']}")
    print(f"Dead letters {API}/v1/dead-letters")
    print(f"Flower     {FLOWER}  (basic auth {flower_auth(Stack())})")
    print(f"Sandbox    {SANDBOX}/_sandbox/ledger?detail=0")
    print("The stack stays up; `make down` stops it.")
    json.dump({"api_key": key, "broadcast_id": created["id"]}, open(os.path.join(ROOT, ".data", "demo.json"), "w"))


if __name__ == "__main__":
    main()
