"""A broadcast through a named Twilio or Infobip account, end to end: real API, worker, sandbox dialect.

The sandbox posts each dialect's delivery reports (signed Twilio callbacks, bulk Infobip reports)
to the API's /webhooks/<account> URL, and the rows settle from them.
"""
from __future__ import annotations

import json

import pytest
import requests
from herald_testing import make_service, recipients, truncate_all, wait_until
from scripts.testbed import Stack

SECRET = "e2e-report-secret"
COUNT = 40


def accounts(name: str, stack: Stack) -> dict:
    """One account of provider `name` against this stack's sandbox, reporting to this stack's API."""
    if name == "twilio":
        return {"provider": "twilio", "base_url": stack.sandbox_url, "account_sid": "ACe2e",
                "auth_token": "sandbox-key", "sender": "+15005550006", "honours_idempotency_key": True,
                "status_callback": f"{stack.api_url}/webhooks/{name}_acct"}
    return {"provider": "infobip", "base_url": stack.sandbox_url, "api_key": "sandbox-key", "sender": "HERALD",
            "webhook_secret": SECRET, "honours_idempotency_key": True, "max_bulk_recipients": 25,
            "notify_url": f"{stack.api_url}/webhooks/{name}_acct/{SECRET}"}


@pytest.fixture(scope="module", params=["twilio", "infobip"])
def stack(request, database_url, redis_url, tmp_path_factory):
    """API, worker and sandbox whose only account is `<provider>_acct`."""
    name = request.param
    running = Stack(database_url, redis_url, str(tmp_path_factory.mktemp(name)), SANDBOX_DLR_DELAY_MS=100)
    running.env.update(HERALD_ACCOUNTS=json.dumps({f"{name}_acct": accounts(name, running)}),
                       HERALD_SMS_PROVIDER=f"{name}_acct")
    try:
        yield running.start_all()
    finally:
        running.stop()


def test_a_personalised_broadcast_is_sent_once_each_and_settled_by_the_dialects_reports(stack, app, redis_url):
    truncate_all(app, redis_url)
    service = make_service(app, "programme-e2e")
    audience = [{**r, "personalisation": {"name": f"Farmer {i}"}} for i, r in enumerate(recipients(COUNT))]
    audience[0]["to"] = "+260961777777"  # the sandbox's absent subscriber
    created = requests.post(f"{stack.api_url}/v1/broadcasts", headers=service.headers, timeout=30,
                            json={"channel": "sms", "body": "Hello ((name)), rains from Monday",
                                  "recipients": audience})
    assert created.status_code == 202, created.text
    url = f"{stack.api_url}/v1/broadcasts/{created.json()['id']}"

    def settled():
        counts = requests.get(url, headers=service.headers, timeout=10).json()["counts"]
        return counts if counts.get("delivered") == COUNT - 1 and counts.get("unreachable") == 1 else None

    wait_until(settled, 60, 0.5, "every message settled by its delivery report")
    ledger = stack.ledger()
    assert ledger["accepted"] == COUNT and not ledger["duplicate_recipients"]
