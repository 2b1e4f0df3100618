"""The SMPP adapter against the sandbox SMSC over loopback: outcomes, windowing, binds, receipts, long text."""
from __future__ import annotations

import os
import threading
import time

import pytest
from smpp_testing import Receipts, poll_until

from providers import smpp_pdu
from providers.base import (Accepted, GatewayRejected, NotSent, OutboundMessage, PermanentError, RateLimited,
                            TemporaryError, UnknownOutcome)
from providers.smpp import SMPPTransceiver
from providers.smpp_text import DATA_CODING_GSM7, DATA_CODING_UCS2, decode_gsm7, encode_body
from sandbox import smpp_wire


@pytest.fixture
def adapter_for(smsc):
    """Build adapters bound to the sandbox SMSC; unbound after the test."""
    built = []

    def build(**overrides) -> SMPPTransceiver:
        adapter = SMPPTransceiver(**smsc.settings(**overrides))
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


def message(to: str = "+260971234567", body: str = "Rain expected tomorrow", message_id: int = 1):
    """An outbound SMS."""
    return OutboundMessage(message_id=message_id, to=to, body=body, idempotency_key=f"k{message_id}")


def test_accepted_with_the_smsc_message_id(smsc, adapter_for):
    accepted = adapter_for().send(message())

    assert isinstance(accepted, Accepted) and accepted.provider_message_id and accepted.segments == 1
    ledger = smsc.ledger()
    assert ledger["accepted"] == 1 and ledger["by_recipient"] == {"+260971234567": 1}


def test_window_keeps_that_many_submit_sm_outstanding(smsc, adapter_for):
    smsc.configure(latency_ms=200)
    adapter = adapter_for(window_size=4)
    batch = [message(f"+26097{i:07d}", message_id=i) for i in range(12)]

    started = time.monotonic()
    results = adapter.send_bulk(batch)
    elapsed = time.monotonic() - started

    assert all(isinstance(r, Accepted) for r in results)
    assert smsc.ledger()["smpp"]["max_outstanding"] == 4
    assert 0.55 < elapsed < 1.5  # 3 windows of 200 ms, not 12 round trips


def test_a_silent_smsc_costs_one_timeout_not_one_per_message(smsc, adapter_for):
    smsc.configure(latency_ms=3000)
    adapter = adapter_for(window_size=2, response_timeout=0.5)

    started = time.monotonic()
    results = adapter.send_bulk([message(f"+26097{i:07d}", message_id=i) for i in range(6)])

    assert time.monotonic() - started < 1.5
    assert [r.code for r in results] == ["response_timeout"] * 2 + ["window_full"] * 4
    # Never written: NotSent, so the retry spends no attempt on them.
    assert isinstance(results[0], UnknownOutcome) and all(type(r) is NotSent for r in results[2:])


def test_threads_share_one_bind(smsc, adapter_for):
    adapter = adapter_for(window_size=8)
    results = []
    threads = [threading.Thread(target=lambda n=n: results.extend(
        adapter.send_bulk([message(f"+2609{n}{i:07d}", message_id=i) for i in range(10)]))) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(results) == 40 and all(isinstance(r, Accepted) for r in results)
    assert smsc.ledger()["smpp"]["binds"] == 1


def test_idle_bind_is_kept_alive_with_enquire_link(smsc, adapter_for):
    adapter = adapter_for(enquire_link_s=0.2)
    adapter.send(message())

    assert poll_until(lambda: smsc.ledger()["smpp"]["enquire_links"] >= 2, 3.0)
    adapter.probe()
    assert isinstance(adapter.send(message("+260977654321", message_id=2)), Accepted)
    assert smsc.ledger()["smpp"]["binds"] == 1


def test_a_forked_process_opens_its_own_bind(smsc, adapter_for, monkeypatch):
    adapter = adapter_for()
    adapter.send(message())
    parents = adapter._bind.state["session"]
    parent_pid = os.getpid()
    monkeypatch.setattr("providers.smpp.os.getpid", lambda: parent_pid + 1)

    try:
        assert isinstance(adapter.send(message("+260977654321", message_id=2)), Accepted)
        assert smsc.ledger()["smpp"]["binds"] == 2 and not parents.closed
    finally:
        adapter.close()  # the child's bind, while the pid is still the child's
        parents.close()  # the "parent's" bind: left alone by the child, closed here by the test


def test_syserr_is_temporary(smsc, adapter_for):
    smsc.configure(smpp_syserr_rate=1.0)

    with pytest.raises(TemporaryError) as caught:
        adapter_for().send(message())
    assert caught.value.code == "ESME_RSYSERR" and not isinstance(caught.value, RateLimited)
    assert smsc.ledger()["accepted"] == 0


def test_invalid_destination_is_permanent(smsc, adapter_for):
    with pytest.raises(PermanentError) as caught:
        adapter_for().send(message(to="+12"))
    assert caught.value.code == "ESME_RINVDSTADR"


def test_an_address_smpp_cannot_carry_is_permanent_and_not_sent(smsc, adapter_for):
    results = adapter_for().send_bulk([message(to="+26097abc"), OutboundMessage(2, "+260971234567", "hi", "", "Hérald"),
                                       message(message_id=3)])

    assert [(type(r), r.code) for r in results[:2]] == [(PermanentError, "unencodable_message")] * 2
    assert isinstance(results[2], Accepted) and smsc.ledger()["smpp"]["submits"] == 1


def test_throttled_is_rate_limited_with_retry_after(smsc, adapter_for):
    smsc.configure(smpp_throttle_per_s=3)
    results = adapter_for(throttle_retry_after_s=0.5).send_bulk(
        [message(f"+26097{i:07d}", message_id=i) for i in range(10)])

    limited = [r for r in results if isinstance(r, RateLimited)]
    assert limited and all(r.code == "ESME_RTHROTTLED" and r.retry_after == 0.5 for r in limited)
    assert smsc.ledger()["accepted"] == len(results) - len(limited)


def test_bind_dropped_after_submit_written_is_unknown_then_rebinds(smsc, adapter_for):
    adapter = adapter_for()
    adapter.send(message())
    smsc.configure(smpp_drop_once=True)

    with pytest.raises(UnknownOutcome) as caught:
        adapter.send(message("+260977654321", message_id=2))
    assert caught.value.code == "bind_lost" and caught.value.gateway_fault == "down"

    assert isinstance(adapter.send(message("+260971111111", message_id=3)), Accepted)
    ledger = smsc.ledger()
    assert ledger["smpp"]["binds"] == 2 and ledger["smpp"]["drops"] == 1
    assert ledger["by_recipient"] == {"+260971234567": 1, "+260971111111": 1}


def test_bind_killed_mid_bulk_loses_nothing_silently(smsc, adapter_for):
    smsc.configure(smpp_drop_every_n=7, latency_ms=20)
    adapter = adapter_for(window_size=3)
    batch = [message(f"+26097{i:07d}", message_id=i) for i in range(20)]

    results = adapter.send_bulk(batch)
    retry = [m for m, r in zip(batch, results) if isinstance(r, NotSent)]
    results += adapter.send_bulk(retry)

    accepted = {r.provider_message_id for r in results if isinstance(r, Accepted)}
    unknown = [r for r in results if isinstance(r, UnknownOutcome)]
    ledger = smsc.ledger()
    assert ledger["smpp"]["drops"] >= 1 and unknown
    # A part the SMSC took just before it cut the bind is accepted there and unknown here: never resent.
    assert len(accepted) <= ledger["accepted"] <= len(accepted) + len(unknown)
    assert not ledger["duplicate_recipients"]


def test_an_smsc_outage_is_not_sent_until_it_listens_again(smsc, adapter_for):
    adapter = adapter_for()
    adapter.send(message())
    smsc.configure(down_for_s=1.0)

    outcome = adapter.send_bulk([message("+260977654321", message_id=2)])[0]
    assert isinstance(outcome, (UnknownOutcome, NotSent))
    assert poll_until(lambda: isinstance(adapter.send_bulk([message("+260971111111", message_id=3)])[0], Accepted),
                      5.0, 0.1)


@pytest.mark.parametrize(("credentials", "code"), [({"password": "wrong"}, "ESME_RINVPASWD"),
                                                 ({"system_id": "nobody"}, "ESME_RINVSYSID")])
def test_wrong_credentials_are_gateway_rejected(smsc, adapter_for, credentials, code):
    with pytest.raises(GatewayRejected) as caught:
        adapter_for(**credentials).send(message())
    assert caught.value.code == code and caught.value.gateway_fault == "rejected"


def test_a_failed_bind_is_down_not_rejected_and_backs_off(smsc, adapter_for):
    smsc.configure(smpp_bindfail_s=5.0)
    adapter = adapter_for(reconnect_min_s=2.0, reconnect_max_s=4.0)

    with pytest.raises(NotSent) as first:
        adapter.send(message())
    with pytest.raises(NotSent) as second:
        adapter.send(message())
    assert (first.value.code, first.value.gateway_fault, first.value.retry_after) == ("ESME_RBINDFAIL", "down", 2.0)
    assert second.value.code == "bind_backoff" and 1.5 < second.value.retry_after <= 2.0
    assert smsc.ledger()["smpp"]["bind_failures"] == 1 and smsc.ledger()["smpp"]["submits"] == 0


def test_a_bindfail_storm_after_a_cut_is_ridden_out_by_the_rebind_backoff(smsc, adapter_for):
    adapter = adapter_for(reconnect_min_s=0.1, reconnect_max_s=0.4)
    adapter.probe()
    smsc.configure(smpp_bindfail_s=1.0, smpp_cut_after_n=1)
    assert isinstance(adapter.send_bulk([message()])[0], UnknownOutcome)  # the submit_sm that cut the binds
    cut = time.monotonic()

    outcomes = []
    while not outcomes or not isinstance(outcomes[-1], Accepted):
        assert time.monotonic() - cut < 5.0, outcomes
        outcomes += adapter.send_bulk([message("+260977654321", message_id=2)])
        time.sleep(0.02)

    assert 0.9 < time.monotonic() - cut < 2.5
    assert all(isinstance(o, NotSent) and o.gateway_fault == "down" for o in outcomes[:-1])
    assert {o.code for o in outcomes[:-1]} == {"ESME_RBINDFAIL", "bind_backoff"}
    ledger = smsc.ledger()
    # Backed off: a handful of binds in the storm second, not one per send.
    assert 2 <= ledger["smpp"]["bind_failures"] <= 8
    assert ledger["by_recipient"] == {"+260977654321": 1}  # the cutting submit_sm was never taken


def test_refused_connection_is_not_sent_and_backs_off(closed_port):
    adapter = SMPPTransceiver(host="127.0.0.1", port=closed_port, system_id="x", password="y",
                              connect_timeout=0.5, reconnect_min_s=5)
    with pytest.raises(NotSent) as first:
        adapter.send(message())
    with pytest.raises(NotSent) as second:
        adapter.send(message())
    assert first.value.code == "connect_failed" and first.value.gateway_fault == "down"
    assert second.value.code == "bind_backoff" and 4 < second.value.retry_after <= 5


def test_receipts_parsed_and_acknowledged(smsc, adapter_for):
    receipts = Receipts()
    adapter = adapter_for(on_receipts=receipts)
    delivered = adapter.send(message("+260971234567", message_id=1))
    failed = adapter.send(message("+260970888888", message_id=2))

    assert poll_until(lambda: len(receipts.reports) == 2, 5.0)
    by_id = {r.provider_message_id: r for r in receipts.reports}
    assert by_id[delivered.provider_message_id].status == "delivered"
    assert by_id[failed.provider_message_id].status == "failed"
    assert by_id[failed.provider_message_id].failure_reason == "UNDELIV err:001"
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 2, 5.0)


def test_a_receipt_the_callback_could_not_store_comes_again(smsc, adapter_for):
    receipts = Receipts()
    receipts.failures = 1
    accepted = adapter_for(on_receipts=receipts).send(message())

    assert poll_until(lambda: receipts.reports, 5.0)
    assert [r.provider_message_id for r in receipts.reports] == [accepted.provider_message_id]
    assert smsc.ledger()["smpp"]["receipts_refused"] == 1


def test_a_slow_receipt_store_does_not_hold_up_submit_sm_resp(smsc, adapter_for):
    smsc.configure(dlr_delay_ms=10)
    receipts = Receipts()
    receipts.delay_s = 0.2  # per stored batch, as a slow database would take
    adapter = adapter_for(on_receipts=receipts, window_size=10, response_timeout=1.0)

    started = time.monotonic()
    results = []
    for batch in range(10):
        results += adapter.send_bulk([message(f"+2609{batch}{i:07d}", message_id=i) for i in range(30)])
    elapsed = time.monotonic() - started
    unknown = sum(isinstance(r, UnknownOutcome) for r in results)
    print(f"\nreceipt store 200 ms per batch: {len(results) / elapsed:.0f} submits/s, outcome_unknown {unknown}")

    assert [r for r in results if not isinstance(r, Accepted)] == []
    assert elapsed < 3.0, f"{len(results) / elapsed:.0f} submits/s"
    # Stored in batches that grow while the store is slow, and each acknowledged once stored.
    assert poll_until(lambda: len(receipts.reports) == 300, 15.0)
    assert receipts.calls < 100
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 300, 5.0)
    assert smsc.ledger()["smpp"]["receipts_refused"] == 0


def test_a_full_receipt_queue_refuses_at_once_and_the_smsc_offers_again(smsc, adapter_for):
    smsc.configure(dlr_delay_ms=200)
    gate = threading.Event()
    receipts = Receipts()
    adapter = adapter_for(on_receipts=lambda reports: gate.wait(10) and receipts(reports), receipt_queue=1)
    first = [adapter.send(message(f"+26097{i:07d}", message_id=i)) for i in range(5)]

    # One is being stored (held at the gate), one waits in the queue: the rest are refused at once,
    # and the reader still reads: a send goes through while the store is stuck.
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_refused"] >= 3, 5.0)
    assert isinstance(adapter.send(message("+260975555555", message_id=9)), Accepted)
    gate.set()

    accepted = {a.provider_message_id for a in first}
    assert poll_until(lambda: accepted <= {r.provider_message_id for r in receipts.reports}, 10.0)
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 6, 10.0)


def post_mobile_originated(smsc, sender: str, text: str, to: str = "12345"):
    """Have the SMSC write a person's text to the bound ESME."""
    return smsc.http.post(f"{smsc.base_url}/_sandbox/smpp/mo", json={"from": sender, "to": to, "text": text},
                          timeout=10)


def test_a_persons_text_goes_to_on_inbound_not_to_receipts(smsc, adapter_for):
    receipts, inbound = Receipts(), Receipts()
    adapter = adapter_for(on_receipts=receipts, on_inbound=inbound)
    adapter.probe()  # bound, nothing sent
    assert post_mobile_originated(smsc, "+260971234567", "STOP").status_code == 200

    assert poll_until(lambda: inbound.reports, 5.0)
    [mo] = inbound.reports
    assert (mo.sender, mo.to, mo.text, mo.inbound_id) == ("+260971234567", "12345", "STOP", None)
    assert receipts.reports == []
    assert poll_until(lambda: smsc.ledger()["smpp"]["mo_acked"] == 1, 5.0)


def test_a_persons_text_the_callback_could_not_store_is_refused_for_the_smsc_to_resend(smsc, adapter_for):
    inbound = Receipts()
    inbound.failures = 1
    adapter_for(on_inbound=inbound).probe()
    post_mobile_originated(smsc, "+260971234567", "STOP")
    assert poll_until(lambda: smsc.ledger()["smpp"]["mo_refused"] == 1, 5.0)
    assert inbound.reports == []
    assert post_mobile_originated(smsc, "+260971234567", "STOP").status_code == 200
    assert poll_until(lambda: inbound.reports, 5.0)


def test_with_nobody_bound_the_sandbox_refuses_a_persons_text(smsc):
    assert post_mobile_originated(smsc, "+260971234567", "STOP").status_code == 409


def test_receipts_kept_for_the_next_bind_that_come_with_its_answer_are_stored(smsc, adapter_for):
    smsc.configure(dlr_delay_ms=300)
    sender = adapter_for()
    accepted = [sender.send(message(f"+26097{i:07d}", message_id=i)) for i in range(5)]
    sender.close()  # unbound before the receipts are due: the SMSC keeps them for the next bind
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_waiting"] == 5, 5.0)
    receipts = Receipts()

    # The SMSC writes the kept receipts right behind its bind_transceiver_resp, in one write.
    adapter_for(on_receipts=receipts).probe()

    assert poll_until(lambda: len(receipts.reports) == 5, 5.0)
    assert {r.provider_message_id for r in receipts.reports} == {a.provider_message_id for a in accepted}
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 5, 5.0)


def test_receipt_text_without_tlvs_parses():
    adapter = SMPPTransceiver(host="h", system_id="s", password="p")
    text = "id:0A1B sub:001 dlvrd:000 submit date:2512011200 done date:2512011201 stat:EXPIRED err:027 text:"

    report = adapter.parse_delivery_report({"short_message": text})
    assert (report.provider_message_id, report.status, report.provider_status) == ("0A1B", "unreachable", "EXPIRED")
    with pytest.raises(ValueError):
        adapter.parse_delivery_report({"short_message": "hello, an MO message"})


@pytest.mark.parametrize(("body", "coding", "parts"), [
    ("Plant early, rains expected. " * 14, DATA_CODING_GSM7, 3),  # 406 septets
    ("Дожди ожидаются с понедельника. " * 5, DATA_CODING_UCS2, 3),  # 160 UTF-16 units
])
def test_long_messages_go_as_udh_parts(smsc, adapter_for, body, coding, parts):
    accepted = adapter_for().send(message(body=body))

    assert accepted.segments == parts
    ledger = smsc.ledger()
    assert ledger["smpp"]["submits"] == parts and ledger["by_recipient"] == {"+260971234567": 1}
    encoded = encode_body(body, 42)
    wire = [smpp_wire.parse_submit(smpp_pdu.submit_sm_body(smpp_pdu.Submit("HERALD", "+260971234567", 0x40,
                                                                            encoded.data_coding, p)))
            for p in encoded.parts]
    assert {w.data_coding for w in wire} == {coding}
    assert [w.concatenation() for w in wire] == [(42, parts, n) for n in range(1, parts + 1)]
    payloads = [w.short_message[6:] for w in wire]
    text = "".join(decode_gsm7(p) if coding == DATA_CODING_GSM7 else p.decode("utf-16-be") for p in payloads)
    assert text == body


def test_a_throttled_part_of_a_long_message_is_sent_again_alone(smsc, adapter_for):
    smsc.configure(smpp_throttle_per_s=20)
    long_text = "Planting advisory for Chipata: plant maize after the first 30 mm of rain; " * 3
    results = adapter_for(throttle_retry_after_s=0.2).send_bulk(
        [message(f"+26097{i:07d}", body=long_text, message_id=i) for i in range(15)])
    assert not [r for r in results if getattr(r, "code", "") == "partial_message"]
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert accepted and all(len(r.part_ids) == 2 for r in accepted)
    ledger = smsc.ledger()
    assert ledger["accepted"] == len(accepted) and not ledger["duplicate_recipients"]
    assert ledger["rate_limited"] > 0  # parts were refused, and the messages still came out whole
