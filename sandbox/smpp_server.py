"""The sandbox SMSC: an SMPP 3.4 server on the sandbox's event loop, sharing its ledger and settings.

A worker binds with bind_transceiver; each submit_sm is decided as the HTTP dialect decides a
recipient (scripted numbers, failure rates) and counted in the same ledger, a concatenated
message once, on its last part. Receipts go back as deliver_sm after dlr_delay_ms, over any
bound connection of the account, and wait for the next bind when none is open.
Faults (throttle, syserr, dropped or cut binds, latency) are set at POST /_sandbox/config.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time

from sandbox import events as ev
from sandbox import recipients
from sandbox import smpp_wire as w
from sandbox.gateway import Gateway
from sandbox.smpp_state import MAX_RECEIPT_ATTEMPTS, RECEIPT_STATES, Receipt, SmppStats

log = logging.getLogger("sandbox.smpp")


class SmscServer:
    """Listening socket, the bound connections, and receipts waiting for a bind."""

    def __init__(self, gateway: Gateway) -> None:
        """Attach to the gateway's ledger and settings."""
        self.gateway = gateway
        self.settings = gateway.settings
        self.stats = SmppStats(self.settings.smpp_throttle_per_s)
        self.bucket = self.stats.bucket
        gateway.smpp = self
        # Bumped by a reset: receipts owed from before it are dropped, as the HTTP dialect's are.
        self.generation = 0
        self.connections: set[SmscProtocol] = set()
        self.waiting: list[Receipt] = []
        self.rng = random.Random(self.settings.seed)
        self._ids = itertools.count(1)
        self._prefix = f"{int(time.time()) & 0xFFFFFF:06x}"
        self.server: asyncio.AbstractServer | None = None
        # Until this monotonic time every bind is answered ESME_RBINDFAIL (smpp_bindfail_s).
        self.binds_fail_until = 0.0

    async def start(self, host: str, port: int) -> None:
        """Listen for binds."""
        self.address = (host, port)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SmscProtocol(self), host, port, reuse_address=True)

    def go_down(self, seconds: float) -> None:
        """An outage (down_for_s): cut every bind and refuse new ones for `seconds`, then listen again."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self.connections):
            connection.close_now()
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, lambda: loop.create_task(self._listen_again()))

    def fail_binds_for(self, seconds: float) -> None:
        """Answer every bind ESME_RBINDFAIL for `seconds` from now (0 ends such a storm at once)."""
        self.binds_fail_until = time.monotonic() + seconds if seconds > 0 else 0.0

    def binds_failing(self) -> bool:
        """Whether a bind now is answered ESME_RBINDFAIL."""
        return time.monotonic() < self.binds_fail_until

    def cut_binds(self, refuse_s: float) -> None:
        """Cut every bind at once (smpp_cut_after_n), counting the submit_sm read and never answered."""
        self.stats.cuts += 1
        self.fail_binds_for(self.settings.smpp_bindfail_s)
        # The answers held back by latency, and the submit_sm that cuts.
        self.stats.cut_unanswered += 1 + sum(connection.outstanding for connection in self.connections)
        if refuse_s > 0:
            self.go_down(refuse_s)
            return
        for connection in list(self.connections):
            connection.close_now()

    async def _listen_again(self) -> None:
        """Reopen the port after an outage, unless another outage already did."""
        if self.server is None:
            await self.start(*self.address)

    def snapshot(self) -> dict:
        """The counters for /_sandbox/ledger, and how many receipts wait for a bind."""
        return {**self.stats.snapshot(), "receipts_waiting": len(self.waiting)}

    def clear(self) -> None:
        """Zero the counters and forget every receipt still owed (POST /_sandbox/reset)."""
        self.stats.clear()
        self.generation += 1
        self.waiting.clear()
        for connection in self.connections:
            connection.receipts.clear()

    def new_message_id(self) -> str:
        """A fresh SMSC message id."""
        return f"{self._prefix}{next(self._ids):010x}"

    def send_mobile_originated(self, source: str, destination: str, text: str) -> int:
        """Write a person's text (deliver_sm, no receipt bit) on one bound connection; 1 if written, else 0.

        Its deliver_sm_resp is counted (mo_acked, or mo_refused for an error status), not resent.
        """
        for connection in self.connections:
            if connection.bound:
                connection.send_mobile_originated(source, destination, text)
                return 1
        return 0

    def schedule_receipt(self, receipt: Receipt) -> None:
        """Send the receipt after dlr_delay_ms, if receipts are on and the number gets one."""
        if self.settings.smpp_receipts and recipients.report_outcome(receipt.number) is not None:
            asyncio.get_running_loop().call_later(self.settings.dlr_delay_ms / 1000.0, self.deliver, receipt)

    def deliver(self, receipt: Receipt) -> None:
        """Offer a receipt over a bound connection, or keep it for the next bind."""
        if receipt.generation != self.generation:
            return
        # The submitting bind while it lives, as most SMSCs do; else any bind of the account.
        bound = [c for c in self.connections if c.bound]
        if not bound:
            self.waiting.append(receipt)
            return
        (receipt.origin if receipt.origin in bound else bound[0]).send_receipt(receipt)

    def refused(self, receipt: Receipt) -> None:
        """The ESME answered a receipt with an error: offer it again later, a few times."""
        self.stats.receipts_refused += 1
        if receipt.attempts < MAX_RECEIPT_ATTEMPTS:
            asyncio.get_running_loop().call_later(self.settings.dlr_delay_ms / 1000.0, self.deliver, receipt)

    def flush_waiting(self) -> None:
        """Hand receipts kept while nobody was bound to the new bind."""
        waiting, self.waiting = self.waiting, []
        for receipt in waiting:
            self.deliver(receipt)


class SmscProtocol(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, server: SmscServer) -> None:
        """Unbound, nothing buffered."""
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.bound = False
        self.outstanding = 0
        self.receipts: dict[int, Receipt] = {}
        self.mobile_originated: set[int] = set()
        self._sequences = itertools.count(1)
        # While one read's PDUs are handled, answers are gathered and written once at the end.
        self.corked = False
        self.outbox: list[bytes] = []

    def connection_made(self, transport) -> None:
        """Remember the transport."""
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        """Forget the connection; receipts it never acknowledged wait for the next bind."""
        self.bound = False
        self.server.connections.discard(self)
        unacked, self.receipts = list(self.receipts.values()), {}
        self.server.waiting.extend(unacked)

    def data_received(self, data: bytes) -> None:
        """Act on every complete PDU; a garbled stream closes the connection."""
        self.buffer += data
        try:
            pdus = w.take_pdus(self.buffer)
        except ValueError:
            self.close_now()
            return
        self.corked = True
        for pdu in pdus:
            if self.transport.is_closing():
                break
            self.dispatch(pdu)
        self.corked = False
        self._flush()

    def _send(self, data: bytes) -> None:
        """Write now, or gather while a read's PDUs are being handled."""
        if self.corked:
            self.outbox.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush(self) -> None:
        """Write the gathered answers in one go."""
        data, self.outbox = b"".join(self.outbox), []
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close_now(self) -> None:
        """Write what was answered so far, then close."""
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def dispatch(self, pdu: w.Pdu) -> None:
        """Route one PDU by command id."""
        if pdu.command_id == w.DELIVER_SM_RESP:
            self._receipt_answered(pdu)
        elif pdu.command_id == w.BIND_TRANSCEIVER:
            self._bind(pdu)
        elif pdu.command_id == w.SUBMIT_SM:
            self._submit(pdu)
        elif pdu.command_id == w.ENQUIRE_LINK:
            self.server.stats.enquire_links += 1
            self._send(w.frame(w.ENQUIRE_LINK_RESP, pdu.sequence))
        elif pdu.command_id == w.UNBIND:
            self._send(w.frame(w.UNBIND_RESP, pdu.sequence))
            self.close_now()
        elif not pdu.command_id & 0x80000000:
            self._send(w.frame(w.GENERIC_NACK, pdu.sequence, status=w.RINVCMDID))

    def _bind(self, pdu: w.Pdu) -> None:
        """Check the credentials (and any ESME_RBINDFAIL storm); answer, and close after a refusal."""
        system_id, password = w.parse_bind(pdu.body)
        settings = self.server.settings
        status = (w.RINVSYSID if system_id != settings.smpp_system_id
                  else w.RINVPASWD if password != settings.smpp_password
                  else w.RBINDFAIL if self.server.binds_failing() else w.ROK)
        body = b"SANDBOX\x00" if status == w.ROK else b""
        self._send(w.frame(w.BIND_TRANSCEIVER_RESP, pdu.sequence, body, status))
        if status != w.ROK:
            self.server.stats.bind_failures += 1
            self.close_now()
            return
        self.bound = True
        self.server.stats.binds += 1
        self.server.flush_waiting()

    def _submit(self, pdu: w.Pdu) -> None:
        """Decide one submit_sm (or drop the bind unanswered) and answer after the latency."""
        if not self.bound:
            self._send(w.frame(w.SUBMIT_SM_RESP, pdu.sequence, status=w.RINVBNDSTS))
            return
        stats, settings = self.server.stats, self.server.settings
        stats.submits += 1
        if self._drop_now(stats.submits):
            stats.drops += 1
            self.close_now()
            return
        if self._cut_now():
            self.server.cut_binds(settings.smpp_cut_refuse_s)
            return
        status, message_id = self._decide(w.parse_submit(pdu.body))
        body = message_id.encode("ascii") + b"\x00" if status == w.ROK else b""
        self.outstanding += 1
        stats.max_outstanding = max(stats.max_outstanding, self.outstanding)
        delay = settings.latency_ms / 1000.0
        answer = w.frame(w.SUBMIT_SM_RESP, pdu.sequence, body, status)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._answer, answer)
        else:
            self._answer(answer)

    def _drop_now(self, count: int) -> bool:
        """Whether this submit_sm is the one that kills the bind."""
        settings = self.server.settings
        if settings.smpp_drop_once:
            settings.smpp_drop_once = False
            return True
        return bool(settings.smpp_drop_every_n) and count % settings.smpp_drop_every_n == 0

    def _cut_now(self) -> bool:
        """Whether this submit_sm (left unanswered) is the one that cuts every bind."""
        settings = self.server.settings
        if not settings.smpp_cut_after_n:
            return False
        settings.smpp_cut_after_n -= 1
        return settings.smpp_cut_after_n == 0

    def _decide(self, submit: w.SubmitSm) -> tuple[int, str]:
        """Throttle, syserr, bad number, else accept: (command_status, message id)."""
        server, number = self.server, submit.destination
        if server.stats.bucket.take(1):
            server.gateway.record(number, ev.RATE_LIMITED)
            return w.RTHROTTLED, ""
        if server.settings.smpp_syserr_rate and server.rng.random() < server.settings.smpp_syserr_rate:
            server.gateway.record(number, ev.TEMPORARY)
            return w.RSYSERR, ""
        if not recipients.is_plausible(number) or recipients.is_blacklisted(number):
            server.gateway.record(number, ev.PERMANENT)
            return w.RINVDSTADR, ""
        message_id = server.new_message_id()
        self._accepted(submit, number, message_id)
        return w.ROK, message_id

    def _accepted(self, submit: w.SubmitSm, number: str, message_id: str) -> None:
        """Owe a receipt for this submit_sm under its own id (every part of a long message gets one, as
        SMSCs send them); count the message once, on its last part."""
        self.server.schedule_receipt(Receipt(message_id, number, time.time(), self.server.generation, self))
        parts = submit.concatenation()
        if parts is None or parts[2] == parts[1]:
            self.server.gateway.record(number, ev.ACCEPTED)

    def _answer(self, answer: bytes) -> None:
        """Write a submit_sm_resp, unless the bind is gone."""
        self.outstanding -= 1
        self._send(answer)

    def send_receipt(self, receipt: Receipt) -> None:
        """Write one receipt as deliver_sm and remember it until its deliver_sm_resp."""
        stat, err, state = RECEIPT_STATES[recipients.report_outcome(receipt.number)]
        sequence = next(self._sequences)
        receipt.attempts += 1
        self.receipts[sequence] = receipt
        self.server.stats.receipts_sent += 1
        body = w.receipt(receipt.message_id, receipt.number, stat, err, receipt.submitted, state)
        self._send(w.frame(w.DELIVER_SM, sequence, body))

    def send_mobile_originated(self, source: str, destination: str, text: str) -> None:
        """Write one mobile-originated deliver_sm and remember its sequence until the answer."""
        sequence = next(self._sequences)
        self.mobile_originated.add(sequence)
        self._send(w.frame(w.DELIVER_SM, sequence, w.mobile_originated(source, destination, text)))

    def _receipt_answered(self, pdu: w.Pdu) -> None:
        """Close a receipt on ROK; offer it again on an error status."""
        if pdu.sequence in self.mobile_originated:
            self.mobile_originated.discard(pdu.sequence)
            self.server.stats.count_mobile_originated(pdu.status == w.ROK)
            return
        receipt = self.receipts.pop(pdu.sequence, None)
        if receipt is None:
            return
        if pdu.status == w.ROK:
            self.server.stats.receipts_acked += 1
        else:
            self.server.refused(receipt)


async def start(gateway: Gateway, host: str, port: int) -> SmscServer:
    """Start the SMSC on the running loop and return it."""
    server = SmscServer(gateway)
    await server.start(host, port)
    log.info("sandbox SMSC listening on smpp://%s:%d", host, port)
    return server
