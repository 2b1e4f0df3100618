"""A bind's deliver_sm on their way to storage: a bounded queue and a thread of its own that stores them.

The reader thread only parses and offers each deliver_sm here, so a slow database never stops it
from reading submit_sm_resp. The storing thread takes whatever has queued up (one batch per
store, so a slow sink gets bigger batches, not more calls) and answers each deliver_sm once its
batch is stored: ROK, or a temporary error when storing failed, so the SMSC delivers it again.
A deliver_sm offered to a full queue is answered at once with ESME_RTHROTTLED: the SMSC keeps it
and offers it later, and the reader never blocks.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from providers import smpp_pdu as pdu

log = logging.getLogger(__name__)

# Receipts as raw field maps; returns whether they were stored.
ReceiptSink = Callable[[list[dict[str, str]]], bool]
# Writes answers onto the bind; errors are its own business (a dead bind answers nothing).
AnswerWriter = Callable[[bytes], None]

ESME_RTHROTTLED = 0x58
# Most deliver_sm stored in one call of the sink (one multi-row INSERT).
MAX_BATCH = 500
# How long the storing thread sleeps on an empty queue before it looks whether the bind closed.
_IDLE_POLL_S = 0.5


class ReceiptQueue:
    """Bounded deliver_sm queue between a bind's reader thread and the thread that stores them."""

    def __init__(self, sink: ReceiptSink, answer: AnswerWriter, size: int) -> None:
        """Start the storing thread; at most `size` deliver_sm wait to be stored."""
        self._sink = sink
        self._answer = answer
        self._queue: queue.Queue[tuple[int, dict[str, str]]] = queue.Queue(maxsize=size)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._store_loop, name="smpp-receipts", daemon=True)
        self._thread.start()

    def offer(self, item: pdu.PDU) -> bytes | None:
        """Queue one deliver_sm for storing (None), or return the answer to write at once."""
        try:
            fields = pdu.deliver_sm_fields(item.body)
        except (ValueError, IndexError):
            # Unreadable: acknowledged so the SMSC stops resending what nobody can read.
            return pdu.encode(pdu.DELIVER_SM_RESP, item.sequence, b"\x00")
        try:
            self._queue.put_nowait((item.sequence, fields))
        except queue.Full:
            return pdu.encode(pdu.DELIVER_SM_RESP, item.sequence, b"\x00", status=ESME_RTHROTTLED)
        return None

    def stop(self) -> None:
        """Stop storing; what is still queued stays unacknowledged, so the SMSC offers it to the next bind."""
        self._stopped.set()

    def _store_loop(self) -> None:
        """Store batch after batch until stopped; never raises."""
        while not self._stopped.is_set():
            batch = self._next_batch()
            if batch:
                self._answer(self._store(batch))

    def _next_batch(self) -> list[tuple[int, dict[str, str]]]:
        """Everything queued (up to MAX_BATCH), waiting a while for the first; empty if none came."""
        try:
            batch = [self._queue.get(timeout=_IDLE_POLL_S)]
        except queue.Empty:
            return []
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[tuple[int, dict[str, str]]]) -> bytes:
        """Store one batch; the deliver_sm_resp for each: ROK if stored, else a temporary error."""
        try:
            stored = self._sink([fields for _, fields in batch])
        except Exception:  # noqa: BLE001 - a failing sink must not end the thread; the SMSC resends
            log.exception("smpp: storing %d deliver_sm failed; refused for the SMSC to resend", len(batch))
            stored = False
        status = pdu.ESME_ROK if stored else pdu.ESME_RX_T_APPN
        return b"".join(pdu.encode(pdu.DELIVER_SM_RESP, sequence, b"\x00", status=status) for sequence, _ in batch)
