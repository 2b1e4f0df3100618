"""The sandbox SMSC spoken to with raw PDUs: binds, enquire_link, submit_sm rules, receipts, control API."""
from __future__ import annotations

import socket
import struct
import time

import pytest
from smpp_testing import PASSWORD, SYSTEM_ID, poll_until

from sandbox import smpp_wire as w


def submit_body(to: str, text: bytes, esm_class: int = 0) -> bytes:
    """A submit_sm body: TON 1 destination, GSM-7, final receipt asked for."""
    return (b"\x00" + b"\x05\x00HERALD\x00" + b"\x01\x01" + to.encode() + b"\x00"
            + bytes([esm_class, 0, 0]) + b"\x00\x00" + bytes([1, 0, 0, 0, len(text)]) + text)


class Esme:
    """A bare-socket ESME: write PDUs, read PDUs, nothing else."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        self.buffer = bytearray()

    def send(self, command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> None:
        """Write one PDU."""
        self.sock.sendall(w.frame(command_id, sequence, body, status))

    def read(self) -> w.Pdu:
        """The next PDU (bounded by the socket timeout)."""
        for _ in range(100):
            pdus = w.take_pdus(self.buffer)
            if pdus:
                self.buffer[:0] = b"".join(w.frame(p.command_id, p.sequence, p.body, p.status) for p in pdus[1:])
                return pdus[0]
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        raise AssertionError("no PDU")

    def bind(self, system_id: str = SYSTEM_ID, password: str = PASSWORD) -> w.Pdu:
        """bind_transceiver and its answer."""
        self.send(w.BIND_TRANSCEIVER, 1, system_id.encode() + b"\x00" + password.encode() + b"\x00\x00\x34\x00\x00\x00")
        return self.read()

    def submit(self, sequence: int, to: str, text: bytes, esm_class: int = 0) -> w.Pdu:
        """submit_sm (TON 1, GSM-7) and its answer."""
        self.send(w.SUBMIT_SM, sequence, submit_body(to, text, esm_class))
        return self.read()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@pytest.fixture
def esme(smsc):
    """A connected, unbound ESME."""
    client = Esme(smsc.smpp_port)
    yield client
    client.close()


def test_bind_checks_credentials(smsc, esme):
    answer = esme.bind(password="wrong")
    assert (answer.command_id, answer.status) == (w.BIND_TRANSCEIVER_RESP, w.RINVPASWD)
    assert esme.sock.recv(10) == b""  # refused binds are closed
    again = Esme(smsc.smpp_port)
    try:
        assert again.bind().status == w.ROK
    finally:
        again.close()
    assert smsc.ledger()["smpp"]["bind_failures"] == 1 and smsc.ledger()["smpp"]["binds"] == 1


def test_enquire_link_and_submit_before_bind(esme):
    esme.send(w.ENQUIRE_LINK, 5)
    assert esme.read()[:3] == (w.ENQUIRE_LINK_RESP, 0, 5)
    assert esme.submit(6, "260971234567", b"hi").status == w.RINVBNDSTS


def test_concatenated_message_is_counted_once_with_one_receipt(smsc, esme):
    assert esme.bind().status == w.ROK
    first = esme.submit(2, "260971234567", bytes([5, 0, 3, 9, 2, 1]) + b"part one", esm_class=0x40)
    second = esme.submit(3, "260971234567", bytes([5, 0, 3, 9, 2, 2]) + b"part two", esm_class=0x40)
    assert first.status == second.status == w.ROK and first.body != second.body

    receipt = esme.read()
    assert receipt.command_id == w.DELIVER_SM
    assert b"id:" + first.body.rstrip(b"\x00") + b" " in receipt.body and b"stat:DELIVRD" in receipt.body
    esme.send(w.DELIVER_SM_RESP, receipt.sequence, b"\x00")
    assert poll_until(lambda: smsc.ledger()["smpp"]["receipts_acked"] == 1, 3.0)
    ledger = smsc.ledger()
    assert ledger["accepted"] == 1 and ledger["by_recipient"] == {"+260971234567": 1}


def test_receipts_wait_for_the_next_bind(smsc, esme):
    smsc.configure(dlr_delay_ms=300)
    esme.bind()
    accepted = esme.submit(2, "260970777777", b"hi")
    esme.close()

    later = Esme(smsc.smpp_port)
    try:
        poll_until(lambda: False, 0.4)
        later.bind()
        receipt = later.read()
        tlvs = receipt.body[receipt.body.index(b"text:") + 5:]
        assert struct.unpack(">HH", tlvs[:4]) == (0x001E, len(accepted.body))
        assert b"stat:EXPIRED" in receipt.body
    finally:
        later.close()


def test_faults_are_set_through_the_control_api(smsc, esme):
    esme.bind()
    smsc.configure(smpp_syserr_rate=1.0)
    assert esme.submit(2, "260971234567", b"hi").status == w.RSYSERR
    smsc.configure(smpp_syserr_rate=0.0, smpp_throttle_per_s=1)
    statuses = [esme.submit(3 + i, "260971234567", b"hi").status for i in range(3)]
    assert statuses[0] == w.ROK and w.RTHROTTLED in statuses
    smsc.configure(smpp_throttle_per_s=0, smpp_drop_once=True)
    with pytest.raises((ConnectionError, OSError)):
        esme.submit(9, "260971234567", b"hi")
    assert smsc.ledger()["smpp"]["drops"] == 1


def _binds(port: int) -> bool:
    """Whether a fresh connection is taken and bound."""
    try:
        esme = Esme(port)
    except OSError:
        return False
    try:
        return esme.bind().status == w.ROK
    finally:
        esme.close()


def test_a_cut_closes_every_bind_at_the_nth_submit_then_refuses_binds_a_while(smsc):
    first, second = Esme(smsc.smpp_port), Esme(smsc.smpp_port)
    try:
        assert first.bind().status == second.bind().status == w.ROK
        smsc.configure(latency_ms=1000, smpp_cut_after_n=3, smpp_cut_refuse_s=2.0)
        # Two taken with their answers held back by latency, then the third cuts both binds.
        first.send(w.SUBMIT_SM, 2, submit_body("260971234567", b"hi"))
        second.send(w.SUBMIT_SM, 2, submit_body("260971234568", b"hi"))
        assert poll_until(lambda: smsc.ledger()["accepted"] == 2, 3.0)
        second.send(w.SUBMIT_SM, 3, submit_body("260971234569", b"hi"))
        for esme in (first, second):
            with pytest.raises((ConnectionError, OSError)):
                esme.read()  # closed, the held answers never sent
        with pytest.raises(ConnectionRefusedError):
            Esme(smsc.smpp_port)
        assert poll_until(lambda: _binds(smsc.smpp_port), 5.0, 0.1)
    finally:
        first.close()
        second.close()
    ledger = smsc.ledger()
    assert (ledger["smpp"]["cuts"], ledger["smpp"]["cut_unanswered"], ledger["accepted"]) == (1, 3, 2)
    assert smsc.http.get(f"{smsc.base_url}/_sandbox/config", timeout=5).json()["smpp_cut_after_n"] == 0


def _bind_status(port: int) -> int:
    """The command_status a fresh connection's bind_transceiver is answered with."""
    esme = Esme(port)
    try:
        return esme.bind().status
    finally:
        esme.close()


def test_binds_are_answered_bindfail_for_smpp_bindfail_s_then_taken(smsc, esme):
    smsc.configure(smpp_bindfail_s=0.5)
    started = time.monotonic()

    assert esme.bind().status == w.RBINDFAIL
    assert esme.sock.recv(10) == b""  # a failed bind is closed, as a refused one is
    assert poll_until(lambda: _bind_status(smsc.smpp_port) == w.ROK, 3.0, 0.05)
    assert 0.45 < time.monotonic() - started < 1.5
    assert smsc.ledger()["smpp"]["bind_failures"] >= 1


def test_a_cut_starts_the_bindfail_storm_again(smsc):
    bound = Esme(smsc.smpp_port)
    try:
        assert bound.bind().status == w.ROK
        smsc.configure(smpp_bindfail_s=0.5, smpp_cut_after_n=1)
        assert poll_until(lambda: _bind_status(smsc.smpp_port) == w.ROK, 3.0, 0.05)  # the first storm is over
        bound.send(w.SUBMIT_SM, 2, submit_body("260971234567", b"hi"))  # cuts every bind
        with pytest.raises((ConnectionError, OSError)):
            bound.read()
    finally:
        bound.close()
    assert _bind_status(smsc.smpp_port) == w.RBINDFAIL
    assert poll_until(lambda: _bind_status(smsc.smpp_port) == w.ROK, 3.0, 0.05)


@pytest.mark.parametrize("bad", [{"smpp_syserr_rate": 2}, {"smpp_drop_every_n": -1}, {"smpp_drop_once": "yes"},
                                 {"smpp_cut_after_n": -1}, {"smpp_cut_after_n": 1.5}, {"smpp_cut_refuse_s": 61},
                                 {"smpp_bindfail_s": -1}, {"smpp_bindfail_s": 61}])
def test_bad_fault_settings_are_refused(smsc, bad):
    response = smsc.http.post(f"{smsc.base_url}/_sandbox/config", json=bad, timeout=5)
    assert response.status_code == 400


def test_password_is_not_shown(smsc):
    shown = smsc.http.get(f"{smsc.base_url}/_sandbox/config", timeout=5).json()
    assert shown["smpp_system_id"] == SYSTEM_ID and "smpp_password" not in shown
