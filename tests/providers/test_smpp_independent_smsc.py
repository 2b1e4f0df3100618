"""Herald's SMPP adapter against an SMSC nobody here wrote (tests/peers/node_smsc.js on the npm `smpp` package).

The sandbox's SMSC and Herald's codec were written side by side and could share a misreading; this
peer decodes what Herald writes with its own codec: the text and data coding of each message, the
concatenation headers of long ones (reassembled there), and it writes receipts and people's texts
its own way for Herald to read back.
"""
from __future__ import annotations

import pytest
from peer_smsc import running_node_smsc
from smpp_testing import Receipts, poll_until

from providers.base import Accepted, GatewayRejected, NotSent, OutboundMessage, RateLimited, TemporaryError
from providers.smpp import SMPPTransceiver


@pytest.fixture(scope="module")
def peer_module():
    """One node SMSC for the module."""
    with running_node_smsc() as smsc:
        yield smsc


@pytest.fixture
def peer(peer_module):
    """The node SMSC with an empty ledger and no faults."""
    peer_module.reset()
    return peer_module


@pytest.fixture
def adapter_for(peer):
    """Build adapters bound to the node SMSC; unbound after the test."""
    built = []

    def build(**overrides) -> SMPPTransceiver:
        adapter = SMPPTransceiver(**peer.settings(**overrides))
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


def message(to: str = "+260971234567", body: str = "Rain expected tomorrow", message_id: int = 1):
    """An outbound SMS."""
    return OutboundMessage(message_id=message_id, to=to, body=body, idempotency_key=f"k{message_id}")


LONG_GSM = "Planting advisory for Chipata: plant maize after the first 30 mm of rain; " * 3
LONG_UCS2 = "Mvula ikalokela: balimi ba ku Mambwe, mulime ŋombe na ŵana. " * 3


@pytest.mark.parametrize(("body", "coding", "parts"), [
    ("Rain expected tomorrow @ 06:00 (£0 to attend)", 0, 1),
    ("Mvula ŋ'ombe ŵana: rain tomorrow", 8, 1),
    (LONG_GSM, 0, 2),
    (LONG_UCS2, 8, 3),
])
def test_the_peer_reads_back_exactly_the_text_herald_wrote(peer, adapter_for, body, coding, parts):
    accepted = adapter_for().send(message(body=body))
    assert isinstance(accepted, Accepted) and accepted.segments == parts
    [taken] = peer.ledger()["messages"]
    assert (taken["to"], taken["text"], taken["parts"], taken["data_coding"]) == ("+260971234567", body, parts, coding)
    assert taken["ids"][0] == accepted.provider_message_id


def test_a_bulk_is_taken_once_each(peer, adapter_for):
    sent = adapter_for().send_bulk([message(f"+26097{i:07d}", message_id=i) for i in range(40)])
    assert all(isinstance(r, Accepted) for r in sent)
    taken = peer.ledger()["messages"]
    assert sorted(m["to"] for m in taken) == sorted(f"+26097{i:07d}" for i in range(40))


def test_the_peers_receipts_are_read_as_delivered(peer, adapter_for):
    receipts = Receipts()
    accepted = adapter_for(on_receipts=receipts).send(message())
    assert poll_until(lambda: receipts.reports, 5.0)
    [report] = receipts.reports
    assert (report.provider_message_id, report.status) == (accepted.provider_message_id, "delivered")
    assert poll_until(lambda: peer.ledger()["receipts_acked"] == 1, 5.0)


def test_a_persons_stop_written_by_the_peer_reaches_on_inbound(peer, adapter_for):
    inbound = Receipts()
    adapter_for(on_inbound=inbound).probe()
    assert peer.mobile_originated("+260971234567", "12345", "STOP").status_code == 200
    assert poll_until(lambda: inbound.reports, 5.0)
    [mo] = inbound.reports
    assert (mo.sender, mo.to, mo.text) == ("+260971234567", "12345", "STOP")
    assert poll_until(lambda: peer.ledger()["mo_acked"] == 1, 5.0)


def test_throttling_and_system_errors_of_the_peer_are_typed(peer, adapter_for):
    peer.configure(throttle_every=3, syserr_every=7)
    results = adapter_for(throttle_retry_after_s=0.5).send_bulk(
        [message(f"+26097{i:07d}", message_id=i) for i in range(20)])
    limited = [r for r in results if isinstance(r, RateLimited)]
    failed = [r for r in results if isinstance(r, TemporaryError) and not isinstance(r, RateLimited)]
    ledger = peer.ledger()
    assert len(limited) == ledger["throttled"] and len(failed) == ledger["syserr"] and limited and failed
    assert len(ledger["messages"]) == sum(isinstance(r, Accepted) for r in results)


def test_a_wrong_password_is_rejected_and_a_failed_bind_is_down(peer, adapter_for):
    with pytest.raises(GatewayRejected) as wrong:
        adapter_for(password="wrong").send(message())
    assert wrong.value.code == "ESME_RINVPASWD"
    peer.configure(bindfail_s=5)
    with pytest.raises(NotSent) as down:
        adapter_for().send(message())
    assert (down.value.code, down.value.gateway_fault) == ("ESME_RBINDFAIL", "down")


def test_a_refused_part_is_sent_again_alone_and_every_message_arrives_whole_once(peer, adapter_for):
    # Every 4th submit_sm throttled and every 9th a system error: parts of long messages among them.
    peer.configure(throttle_every=4, syserr_every=9)
    bodies = [LONG_GSM if i % 3 else f"Short notice {i}" for i in range(30)]
    results = adapter_for(throttle_retry_after_s=0.05).send_bulk(
        [message(f"+26097{i:07d}", body=body, message_id=i) for i, body in enumerate(bodies)])
    accepted = {i for i, r in enumerate(results) if isinstance(r, Accepted)}
    assert not [r for r in results if getattr(r, "code", "") == "partial_message"]
    taken = peer.ledger()["messages"]
    # Whole, once: the peer reassembled each accepted message exactly once, with its full text.
    assert sorted(m["to"] for m in taken) == sorted(f"+26097{i:07d}" for i in accepted)
    assert all(m["text"] == bodies[int(m["to"][-7:])] for m in taken)
    multi = [results[i] for i in accepted if bodies[i] == LONG_GSM]
    assert multi and all(len(r.part_ids) == 2 for r in multi)
    assert peer.ledger()["throttled"] + peer.ledger()["syserr"] > 0
