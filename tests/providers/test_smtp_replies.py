"""The table of SMTP replies and lost connections, point by point of the dialogue, as typed outcomes."""
from __future__ import annotations

import pytest

from providers.base import (GatewayRejected, NotSent, PermanentError, RateLimited, TemporaryError,
                            UnknownOutcome)
from providers.smtp_replies import Phase, lost, refusal

# (phase, reply code) -> (outcome class, gateway fault)
REFUSALS = [
    (Phase.GREETING, 421, NotSent, "down"),
    (Phase.GREETING, 554, GatewayRejected, "rejected"),
    (Phase.EHLO, 550, GatewayRejected, "rejected"),
    (Phase.STARTTLS, 454, NotSent, "down"),
    (Phase.AUTH, 535, GatewayRejected, "rejected"),
    (Phase.AUTH, 454, NotSent, "down"),
    (Phase.MAIL, 530, GatewayRejected, "rejected"),
    (Phase.MAIL, 451, TemporaryError, None),
    (Phase.MAIL, 421, TemporaryError, "down"),
    (Phase.MAIL, 550, GatewayRejected, "rejected"),
    (Phase.MAIL, 552, PermanentError, None),
    (Phase.RCPT, 421, TemporaryError, "down"),
    (Phase.RCPT, 450, TemporaryError, None),
    (Phase.RCPT, 451, TemporaryError, None),
    (Phase.RCPT, 452, RateLimited, None),
    (Phase.RCPT, 552, RateLimited, None),
    (Phase.RCPT, 530, GatewayRejected, "rejected"),
    (Phase.RCPT, 535, GatewayRejected, "rejected"),
    (Phase.RCPT, 550, PermanentError, None),
    (Phase.RCPT, 551, PermanentError, None),
    (Phase.RCPT, 553, PermanentError, None),
    (Phase.RCPT, 554, PermanentError, None),
    (Phase.DATA, 451, TemporaryError, None),
    (Phase.DATA, 554, PermanentError, None),
    (Phase.FINAL, 451, TemporaryError, None),
    (Phase.FINAL, 452, TemporaryError, None),
    (Phase.FINAL, 552, PermanentError, None),
    (Phase.FINAL, 554, PermanentError, None),
    (Phase.FINAL, -1, UnknownOutcome, "down"),
]


@pytest.mark.parametrize(("phase", "code", "kind", "fault"), REFUSALS, ids=lambda v: str(getattr(v, "value", v)))
def test_each_refusal_is_its_typed_outcome(phase, code, kind, fault):
    error = refusal(phase, code, "text")

    assert type(error) is kind and error.gateway_fault == fault
    assert error.code == (f"smtp_{code}" if code > 0 else "smtp_unreadable_reply")


@pytest.mark.parametrize("phase", [p for p in Phase if p is not Phase.FINAL])
def test_a_connection_lost_before_the_final_reply_is_awaited_is_not_sent(phase):
    error = lost(phase, "gone")

    assert type(error) is NotSent and error.gateway_fault == "down"


def test_a_connection_lost_awaiting_the_final_reply_is_in_doubt():
    dropped, silent = lost(Phase.FINAL, "gone"), lost(Phase.FINAL, "slow", timed_out=True)

    assert isinstance(dropped, UnknownOutcome) and dropped.gateway_fault == "down"
    assert isinstance(silent, UnknownOutcome) and silent.gateway_fault is None
    assert (dropped.code, silent.code) == ("dropped_after_data", "final_reply_timeout")
