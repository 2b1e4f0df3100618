"""Faults a real server will not stage on cue, against a scripted one: silence, closes at each command,
a trickled reply, a session the server closed while it sat idle in the pool."""
from __future__ import annotations

import time

import pytest
from smtp_stub import CLOSE, SILENT, TRICKLE, ScriptedMta

from providers import smtp_client
from providers.base import Accepted, GatewayRejected, NotSent, OutboundMessage, UnknownOutcome
from providers.smtp import SMTPEmail

MESSAGE = OutboundMessage(message_id=1, to="person@example.org", body="Hello", idempotency_key="b1:1",
                          subject="Advisory")


@pytest.fixture
def stub():
    """Start scripted servers; stopped after the test."""
    started: list[ScriptedMta] = []

    def start(script: dict | None = None, after_final: str | None = None) -> ScriptedMta:
        started.append(ScriptedMta(script, after_final))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def adapter(server: ScriptedMta, **overrides) -> SMTPEmail:
    """An adapter aimed at the stub, plain, with short timeouts."""
    return SMTPEmail(host="127.0.0.1", port=server.port, starttls=False, from_address="news@herald.test",
                     connect_timeout=1.0, reply_timeout=0.5, data_timeout=0.5, **overrides)


def test_no_reply_to_the_final_dot_is_in_doubt_and_bounded(stub):
    server = stub({".": SILENT})

    started = time.monotonic()
    with pytest.raises(UnknownOutcome) as caught:
        adapter(server).send(MESSAGE)
    assert caught.value.code == "final_reply_timeout" and caught.value.gateway_fault is None
    assert time.monotonic() - started < 2.0


def test_a_close_before_the_final_reply_is_in_doubt(stub):
    with pytest.raises(UnknownOutcome) as caught:
        adapter(stub({".": CLOSE})).send(MESSAGE)
    assert caught.value.code == "dropped_after_data" and caught.value.gateway_fault == "down"


@pytest.mark.parametrize("verb", ["greeting", "EHLO", "MAIL", "RCPT", "DATA"])
def test_a_close_before_the_message_was_written_is_not_sent(stub, verb):
    with pytest.raises(NotSent) as caught:
        adapter(stub({verb: CLOSE})).send(MESSAGE)
    assert caught.value.code == f"lost_at_{verb.lower()}" and caught.value.gateway_fault == "down"


def test_a_write_that_fails_while_the_message_goes_out_is_not_sent(stub, monkeypatch):
    # The kernel takes a small message whole, so the failing write is staged: the message's write
    # fails as a reset connection makes it fail, before its final "." is out.
    real_send = smtp_client.BoundedClient.send

    def cut_before_the_dot(client, data):
        if isinstance(data, bytes) and data.endswith(b"\r\n.\r\n"):
            client.close()
            raise smtp_client.WriteFailed("write failed: [Errno 104] Connection reset by peer")
        return real_send(client, data)

    monkeypatch.setattr(smtp_client.BoundedClient, "send", cut_before_the_dot)
    with pytest.raises(NotSent) as caught:
        adapter(stub()).send(MESSAGE)
    assert caught.value.code == "lost_at_content"


def test_a_reply_trickled_past_the_timeout_is_cut_off(stub):
    started = time.monotonic()
    with pytest.raises(NotSent) as caught:
        adapter(stub({"greeting": TRICKLE})).send(MESSAGE)
    assert caught.value.code == "lost_at_greeting" and time.monotonic() - started < 1.5


@pytest.mark.parametrize(("greeting", "kind"), [("421 4.3.2 busy", NotSent), ("554 5.7.1 no service for you",
                                                                               GatewayRejected)])
def test_a_refused_greeting(stub, greeting, kind):
    with pytest.raises(kind):
        adapter(stub({"greeting": greeting})).send(MESSAGE)


def test_a_garbled_final_reply_is_in_doubt(stub):
    with pytest.raises(UnknownOutcome):
        adapter(stub({".": "what?"})).send(MESSAGE)


def test_starttls_required_but_not_offered_is_the_accounts_fault(stub):
    server = stub()
    with pytest.raises(GatewayRejected) as caught:
        SMTPEmail(host="127.0.0.1", port=server.port, from_address="news@herald.test",
                  connect_timeout=1.0, reply_timeout=0.5).send(MESSAGE)
    assert caught.value.code == "starttls_unavailable"


def test_a_pooled_session_the_server_closed_is_found_dead_by_rset_and_replaced(stub):
    server = stub(after_final=CLOSE)
    sender = adapter(server)

    first, second = sender.send(MESSAGE), sender.send(MESSAGE)

    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert server.connections == 2 and server.commands.count(".") == 2
    sender.close()
