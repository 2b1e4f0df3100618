"""One SMPP transceiver bind: a socket, a reader thread, and a window of outstanding submit_sm.

Sender threads write PDUs under one lock and wait on their own Pending; the reader thread
matches each response to its Pending by sequence number, answers enquire_link, hands deliver_sm
to a ReceiptQueue (stored and answered on a thread of their own, so a slow sink never holds up a
submit_sm_resp), and sends enquire_link when the link is idle. When the socket dies every Pending still waiting
learns its request was written but never answered.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from providers import smpp_pdu as pdu
from providers.smpp_receipt_queue import ReceiptQueue, ReceiptSink

_RECV_BYTES = 64 * 1024


class BindRefused(Exception):
    """The SMSC answered bind_transceiver with an error status."""

    def __init__(self, status: int) -> None:
        """Keep the status so the adapter can map it."""
        super().__init__(f"bind refused with command_status 0x{status:08X}")
        self.status = status


class BindLost(Exception):
    """The bind closed before this request was written (nothing sent)."""


class Pending:
    """One written request waiting for its response."""

    __slots__ = ("done", "status", "body", "lost", "unsent", "released")

    def __init__(self) -> None:
        """Not answered yet, holding one window slot."""
        self.done = threading.Event()
        self.status: int | None = None
        self.body = b""
        self.lost = False  # the bind died before an answer came
        self.unsent = False  # ... and this request had certainly not reached the SMSC whole
        self.released = False


class Session:
    """A bound transceiver shared by a process's sender threads."""

    def __init__(self, sock: socket.socket, window: int, enquire_link_s: float, on_receipts: ReceiptSink,
                 unread: bytes = b"", receipt_queue: int = 1000) -> None:
        """Wrap an already bound socket and start reading from it, `unread` (bytes read past the bind answer) first.

        At most `receipt_queue` deliver_sm wait to be stored; more are refused for the SMSC to offer again.
        """
        self._sock = sock
        self._unread = unread
        self._window = threading.BoundedSemaphore(window)
        self._enquire_link_s = enquire_link_s
        self._write_lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self._outbox: list[tuple[bytes, Pending]] = []
        self._sequences = itertools.count(2)  # 1 went to the bind
        self.closed = False
        self._receipts = ReceiptQueue(on_receipts, self._write_answers, receipt_queue)
        self._reader = threading.Thread(target=self._read_loop, name="smpp-reader", daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, address: tuple[str, int], credentials: tuple[str, str, str], timeout: float, window: int,
             enquire_link_s: float, on_receipts: ReceiptSink, receipt_queue: int = 1000) -> "Session":
        """Connect, bind_transceiver and wait for its answer; raise OSError or BindRefused."""
        sock = socket.create_connection(address, timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(pdu.encode(pdu.BIND_TRANSCEIVER, 1, pdu.bind_transceiver_body(*credentials)))
            answer, unread = _read_bind_answer(sock)
            if answer.command_id != pdu.BIND_TRANSCEIVER_RESP or answer.status != pdu.ESME_ROK:
                raise BindRefused(answer.status if answer.status else 0xFF)
        except BaseException:
            sock.close()
            raise
        return cls(sock, window, enquire_link_s, on_receipts, unread, receipt_queue)

    # ---- sending ------------------------------------------------------------

    def submit(self, command_id: int, body: bytes, window_timeout: float, flush: bool = True) -> Pending | None:
        """Write (or with flush=False queue for flush()) one request in the window; None if no slot came in time."""
        # Queueing makes a bulk send one write per window; BindLost means certainly not written.
        if not self._window.acquire(blocking=False):
            self.flush()  # slots may be held by our own queued requests
            if not self._window.acquire(timeout=window_timeout):
                return None
        pending = Pending()
        try:
            with self._write_lock:
                if self.closed:
                    raise BindLost("bind closed")
                sequence = next(self._sequences) % 0x7FFFFFFF or 1
                self._pending[sequence] = pending
                data = pdu.encode(command_id, sequence, body)
                if not flush:
                    self._outbox.append((data, pending))
                    return pending
                if not self._outbox:
                    self._sock.sendall(data)
                    return pending
                self._outbox.append((data, pending))
        except (OSError, BindLost) as exc:
            # sendall failing means this lone PDU never arrived whole, and an SMSC ignores a partial PDU.
            self._release(pending)
            self._fail(exc)
            raise BindLost(str(exc)) from exc
        self.flush()
        return pending

    def flush(self) -> None:
        """Write every queued request in one go; a failed write loses the bind (and them with it)."""
        with self._write_lock:
            batch, self._outbox = self._outbox, []
            if not batch or self.closed:
                return
            try:
                self._sock.sendall(b"".join(data for data, _ in batch))
                return
            except OSError:
                # One PDU cut short never arrived whole; of several, the first ones may have.
                if len(batch) == 1:
                    batch[0][1].unsent = True
        self._fail(None)

    def wait(self, pending: Pending, timeout: float) -> bool:
        """Wait for the response (or the bind's loss); False if neither came in time."""
        answered = pending.done.wait(timeout)
        # An answered request freed its slot already; an unanswered one frees it now, or the
        # window would shrink for good each time the SMSC swallows a PDU.
        self._release(pending)
        return answered

    def enquire(self, timeout: float) -> bool:
        """One enquire_link round trip: whether the SMSC answered in time."""
        pending = self.submit(pdu.ENQUIRE_LINK, b"", timeout)
        return pending is not None and self.wait(pending, timeout) and not pending.lost

    def close(self) -> None:
        """Unbind politely if possible, then close the socket."""
        if self.closed:
            return
        try:
            with self._write_lock:
                self._sock.sendall(pdu.encode(pdu.UNBIND, next(self._sequences) % 0x7FFFFFFF or 1))
        except OSError:
            pass
        self._fail(None)

    def outstanding(self) -> int:
        """Requests written and not answered yet."""
        return len(self._pending)

    def _release(self, pending: Pending) -> None:
        """Give the window slot back exactly once."""
        with self._write_lock:
            if pending.released:
                return
            pending.released = True
        self._window.release()

    def _fail(self, exc: BaseException | None) -> None:
        """Close the socket and tell every waiter its request is lost."""
        with self._write_lock:
            self.closed = True
            lost, self._pending = list(self._pending.values()), {}
            for _, queued in self._outbox:
                queued.unsent = True
            self._outbox = []
        self._receipts.stop()
        try:
            self._sock.close()
        except OSError:
            pass
        for pending in lost:
            pending.lost = True
            pending.done.set()
            self._release(pending)

    # ---- reading ------------------------------------------------------------

    def _read_loop(self) -> None:
        """Read until the socket dies; answer the SMSC's requests, match its responses."""
        buffer = bytearray(self._unread)
        self._sock.settimeout(self._enquire_link_s)
        idle_rounds = 0
        try:
            self._handle(pdu.split_pdus(buffer))
            while not self.closed:
                try:
                    data = self._sock.recv(_RECV_BYTES)
                except socket.timeout:
                    idle_rounds = self._keep_alive(idle_rounds)
                    continue
                if not data:
                    break
                idle_rounds = 0
                buffer += data
                self._handle(pdu.split_pdus(buffer))
        except (OSError, ValueError):
            pass  # a dead or garbled link ends the bind either way
        finally:
            self._fail(None)

    def _keep_alive(self, idle_rounds: int) -> int:
        """Send enquire_link on an idle link; give up after two unanswered intervals."""
        if idle_rounds >= 2:
            raise OSError("enquire_link unanswered")
        with self._write_lock:
            self._sock.sendall(pdu.encode(pdu.ENQUIRE_LINK, next(self._sequences) % 0x7FFFFFFF or 1))
        return idle_rounds + 1

    def _handle(self, pdus: list[pdu.PDU]) -> None:
        """Dispatch one read's worth of PDUs; deliver_sm go to the receipt queue, answered once stored."""
        answers = []
        for item in pdus:
            if item.command_id & pdu.RESPONSE_BIT:
                self._resolve(item)
            elif item.command_id == pdu.DELIVER_SM:
                answer = self._receipts.offer(item)
                if answer is not None:
                    answers.append(answer)
            elif item.command_id == pdu.ENQUIRE_LINK:
                answers.append(pdu.encode(pdu.ENQUIRE_LINK_RESP, item.sequence))
            elif item.command_id == pdu.UNBIND:
                answers.append(pdu.encode(pdu.UNBIND_RESP, item.sequence))
                self.closed = True
            else:
                answers.append(pdu.encode(pdu.GENERIC_NACK, item.sequence, status=0x03))  # ESME_RINVCMDID
        if answers:
            with self._write_lock:
                self._sock.sendall(b"".join(answers))

    def _resolve(self, item: pdu.PDU) -> None:
        """Hand a response to the request waiting on its sequence number (late ones are dropped)."""
        with self._write_lock:
            pending = self._pending.pop(item.sequence, None)
        if pending is not None:
            pending.status, pending.body = item.status, item.body
            pending.done.set()
            # Freed on arrival, not when the sender looks: a bulk send writes ahead of its reads.
            self._release(pending)

    def _write_answers(self, data: bytes) -> None:
        """Write answers from another thread (the receipt store's); a dead bind just answers nothing."""
        try:
            with self._write_lock:
                if not self.closed:
                    self._sock.sendall(data)
        except OSError:
            pass  # the reader sees the dead socket and ends the bind; unanswered receipts come again


def _read_bind_answer(sock: socket.socket) -> tuple[pdu.PDU, bytes]:
    """Read the bind answer (before the reader thread exists); return it and the bytes read after it.

    An SMSC may write on at once, as the receipts it kept for the next bind: those bytes go to the
    reader, or the receipts would be lost here while the SMSC waits for their deliver_sm_resp.
    """
    buffer = bytearray()
    deadline = time.monotonic() + (sock.gettimeout() or 10.0)
    while time.monotonic() < deadline:
        chunk = sock.recv(_RECV_BYTES)
        if not chunk:
            raise ConnectionResetError("SMSC closed the connection during bind")
        buffer += chunk
        length = pdu.pdu_length(buffer)
        if length is not None and len(buffer) >= length:
            return pdu.split_pdus(buffer[:length])[0], bytes(buffer[length:])
    raise TimeoutError("no bind_transceiver_resp")
