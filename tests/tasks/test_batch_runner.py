"""Running a claimed batch against real Redis: whose breaker a failing gateway's requests count against."""
from __future__ import annotations

import uuid

import pytest

from app.services.sending import breaker
from app.services.state import call_journal
from providers.base import NotSent, OutboundMessage, Provider
from tasks.batch_runner import run_batch


class UnreachableGateway(Provider):
    """An in-memory gateway nobody can reach: every send is NotSent (the gateway is down)."""

    name = "smpp"
    channel = "sms"

    def send(self, message: OutboundMessage):
        """Never reaches the gateway."""
        raise NotSent("connect_failed", "connection refused")


@pytest.fixture
def ctx(app, clean):
    """An app context on clean stores, with fresh per-process breaker state."""
    breaker.forget_local()
    with app.app_context():
        yield app


def test_a_named_accounts_failures_open_that_accounts_breaker_not_its_providers(ctx):
    message = OutboundMessage(message_id=1, to="+260971234567", body="hi", idempotency_key="k1")
    for _ in range(ctx.config["HERALD_BREAKER_DOWN_FAULTS"]):
        token = uuid.uuid4()
        call_journal.open_journal(token, [], 60)
        run = run_batch("smpp_acct", UnreachableGateway(), [message], token, None, time_budget=5, threads=1)
        assert isinstance(run.results[1], NotSent)

    # The account's pauses and probes look it up by account name: a breaker under "smpp" would never close.
    assert breaker.open_reason("smpp_acct", max_age=0) == "gateway_down"
    assert breaker.open_reason("smpp", max_age=0) is None
