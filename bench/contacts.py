"""contact_import_seconds_100k: one POST /v1/contacts/import of 100,000 generated contacts, through the API.

`python -m bench.contacts` (under scripts/stack.py) measures it alone; `make bench` includes it.
"""
from __future__ import annotations

import tempfile
import time

import requests

from scripts.testbed import Stack, reset_database, scratch_database_url, scratch_redis_url

DISTRICTS = ("Chipata", "Lundazi", "Mambwe", "Petauke", "Katete")
CROPS = ("maize", "cotton", "groundnuts", "soya", "sunflower")
LANGUAGES = ("en", "bem", "ny")


def contacts_csv(count: int, offset: int = 0) -> bytes:
    """A contact CSV of `count` farmers: phone over MTN/Airtel/Zamtel, language, consent, three attributes."""
    prefixes = ("96", "97", "95", "76", "77")
    lines = ["external_id,phone,language,consent_sms,district,crop,hectares"]
    for i in range(offset, offset + count):
        lines.append(f"farmer-{i},+260{prefixes[i % 5]}{i % 10_000_000:07d},{LANGUAGES[i % 3]},yes,"
                     f"{DISTRICTS[i % 5]},{CROPS[(i // 5) % 5]},{1 + i % 20}")
    return ("\n".join(lines) + "\n").encode()


def measure_contact_import(api_url: str, key: str, count: int = 100_000) -> float:
    """Seconds for one import request of `count` new contacts; fails unless every row was created."""
    data = contacts_csv(count)
    started = time.perf_counter()
    response = requests.post(f"{api_url}/v1/contacts/import", data=data, timeout=600,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    report = response.json()
    if report["created"] != count or report["rejected"]:
        raise AssertionError(f"import created {report['created']} of {count}, rejected {report['rejected']}")
    print(f"contacts: import of {count:,} contacts in one request: {elapsed:.3f}s ({len(data) / 1e6:.1f} MB)")
    return elapsed


def main() -> None:
    """Measure the import alone against a fresh database and a gunicorn API."""
    from bench.common import machine, make_key

    database_url, redis_url = scratch_database_url("herald_bench_contacts"), scratch_redis_url(7)
    reset_database(database_url)
    key = make_key(database_url, redis_url)
    stack = Stack(database_url, redis_url, tempfile.mkdtemp(prefix="herald-bench-contacts-"))
    try:
        stack.start_api()
        seconds = measure_contact_import(stack.api_url, key)
    finally:
        stack.stop()
    print({"machine": machine(), "contact_import_seconds_100k": round(seconds, 3)})


if __name__ == "__main__":
    main()
