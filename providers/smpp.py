"""SMPP 3.4 adapter: one transceiver bind per account per worker process, submit_sm windowed.

The bind is opened lazily on the first send, opened again after a fork (the parent keeps its
own), and shared by the process's sender threads. A dropped bind is rebuilt on the next send;
failed attempts back off exponentially. Delivery receipts (deliver_sm) arrive on the same bind
and go, through a bounded queue and a storing thread of their own (providers/smpp_receipt_queue.py),
to the `on_receipts` callback as DeliveryReports, acknowledged once it returns.
PDU bytes are in providers/smpp_pdu.py, text coding in providers/smpp_text.py.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from typing import Callable, Mapping, NamedTuple, Sequence

from providers import smpp_pdu as pdu
from providers.base import (Accepted, DeliveryReport, GatewayRejected, InboundMessage, NotSent, OutboundMessage,
                            PermanentError, Provider, SendError, SendResult, TemporaryError, UnknownOutcome)
from providers.smpp_session import BindLost, BindRefused, Pending, Session
from providers import smpp_settings as checked
from providers.smpp_settings import SETTINGS
from providers.smpp_status import BIND_REJECTIONS, RECEIPT_STATES, status_error, status_name
from providers.smpp_text import encode_body

log = logging.getLogger(__name__)
ReportCallback = Callable[[list[DeliveryReport]], None]
InboundCallback = Callable[[list[InboundMessage]], None]


class _Bind(NamedTuple):
    """This process's bind state: whose it is, its lock, and the backoff between failed attempts."""

    pid: int
    lock: threading.Lock
    state: dict  # session, backoff_s, next_attempt


class _Flight(NamedTuple):
    """One message's written parts (their submit_sm bodies alongside), and the error that stopped writing the rest."""

    pendings: list[Pending]
    error: SendError | None
    segments: int
    bodies: list[bytes] = []


# How often one refused part of a multi-part message is written again within the call.
PART_RESENDS = 3




class SMPPTransceiver(Provider):
    """Sends SMS over an SMPP 3.4 transceiver bind and parses its delivery receipts."""

    settings_schema = SETTINGS

    name = "smpp"
    channel = "sms"
    honours_idempotency_key = False  # SMPP has no idempotency key: a resend is a second message
    # One lane per process: its bind's window is the concurrency, so lanes would only journal calls
    # that wait for a slot, and a crash would leave them in doubt beside the window on the wire.
    max_lanes = 1

    def __init__(self, *, host: str = "", port: int | str = 2775, system_id: str = "", password: str = "",
                 system_type: str = "", source_addr: str = "", window_size: int | str = 10,
                 max_bulk_recipients: int | str = 500, connect_timeout: float | str = 3.0,
                 response_timeout: float | str = 10.0, enquire_link_s: float | str = 30.0,
                 reconnect_min_s: float | str = 0.5, reconnect_max_s: float | str = 30.0,
                 throttle_retry_after_s: float | str = 1.0, receipt_queue: int | str = 1000,
                 receipt_per_part: bool | str = True, on_receipts: ReportCallback | None = None,
                 on_inbound: InboundCallback | None = None) -> None:
        """Validate settings; nothing connects until the first send or probe."""
        self.host = checked.text("host", host)
        self.port = checked.count("port", port)
        self.system_id = checked.text("system_id", system_id)
        self._credentials = (self.system_id, checked.text("password", password), str(system_type or ""))
        self.source_addr = str(source_addr or "")
        self.window_size = checked.count("window_size", window_size)
        self.max_bulk_recipients = checked.count("max_bulk_recipients", max_bulk_recipients)
        self.connect_timeout = checked.seconds("connect_timeout", connect_timeout)
        self.response_timeout = checked.seconds("response_timeout", response_timeout)
        self.enquire_link_s = checked.seconds("enquire_link_s", enquire_link_s)
        self.reconnect_min_s = checked.seconds("reconnect_min_s", reconnect_min_s)
        self.reconnect_max_s = checked.seconds("reconnect_max_s", reconnect_max_s)
        self.throttle_retry_after_s = checked.seconds("throttle_retry_after_s", throttle_retry_after_s)
        self.receipt_queue = checked.count("receipt_queue", receipt_queue)
        self.receipt_per_part = checked.flag("receipt_per_part", receipt_per_part)
        self.on_receipts = on_receipts
        self.on_inbound = on_inbound
        self._bind: _Bind | None = None
        self._references = itertools.count()

    @property
    def journal_unit(self) -> int:
        """One window: pause, breaker and opt-outs are checked before each window's writes, the rate
        limiter books it, and a crash leaves at most a window of submit_sm in doubt, not a whole bulk."""
        return min(self.window_size, self.max_bulk_recipients)

    def __repr__(self) -> str:
        """Describe the adapter without its password."""
        return f"SMPPTransceiver(host={self.host!r}, port={self.port}, system_id={self.system_id!r})"

    # ---- sending ------------------------------------------------------------

    def send(self, message: OutboundMessage) -> Accepted:
        """Send one message (all its parts); return Accepted or raise a SendError subclass."""
        return self._send_through_bulk(message)

    def send_bulk(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Pipeline every part of every message within the window, then collect; one result per message."""
        if not messages:
            return []
        self._check_bulk_size(messages)
        try:
            session = self._session()
        except SendError as exc:
            return [exc] * len(messages)
        flights: list[_Flight] = []
        stalled: SendError | None = None
        for message in messages:
            # A full window or a lost bind will not mend within this call: fail the rest at once.
            flights.append(_Flight([], stalled, 1) if stalled is not None else self._write(session, message))
            if isinstance(flights[-1].error, NotSent):
                stalled = flights[-1].error
        session.flush()
        # One deadline for the batch: answers arrive concurrently, so waiting is not summed per part.
        deadline = time.monotonic() + self.response_timeout
        return [self._collect(session, flight, deadline) for flight in flights]

    def _write(self, session: Session, message: OutboundMessage) -> _Flight:
        """Write a message's parts in order; stop at the first part that cannot be written."""
        try:
            bodies = _submit_bodies(message, message.sender or self.source_addr, next(self._references) & 0xFF)
        except ValueError as exc:  # a sender or number SMPP cannot carry, or a text past 255 parts
            return _Flight([], PermanentError("unencodable_message", str(exc)), 1)
        pendings: list[Pending] = []
        for body in bodies:
            try:
                pending = session.submit(pdu.SUBMIT_SM, body, self.response_timeout, flush=False)
            except BindLost as exc:
                return _Flight(pendings, NotSent("bind_lost", str(exc)), len(bodies), bodies)
            if pending is None:
                # The window stayed full a whole response timeout: the SMSC is not answering. This
                # part was never written, so no attempt is spent on it (NotSent is down, too).
                return _Flight(pendings, NotSent("window_full", "no window slot within the response timeout"),
                               len(bodies), bodies)
            pendings.append(pending)
        return _Flight(pendings, None, len(bodies), bodies)

    def _collect(self, session: Session, flight: _Flight, deadline: float) -> SendResult:
        """Wait for every written part; the message is accepted only if every part was.

        A part the SMSC answered with a refusal (throttled, a system error) while others of the
        message were taken is written again, alone, with the same concatenation reference, up to
        PART_RESENDS times within the deadline: the handset then joins the whole message once.
        """
        outcomes = [self._answer(session, pending, deadline) for pending in flight.pendings]
        if flight.error is None and any(isinstance(o, str) for o in outcomes):
            outcomes = self._resend_refused_parts(session, flight.bodies, outcomes, deadline)
        if flight.error is not None:
            outcomes.append(flight.error)
        ids = [o for o in outcomes if isinstance(o, str)]
        errors = [o for o in outcomes if isinstance(o, SendError)]
        if not errors:
            # Each part's id is kept where each part gets its own receipt: the message settles on all of them.
            return Accepted(ids[0], segments=flight.segments, part_ids=tuple(ids) if self.receipt_per_part else ())
        if ids:
            # Some parts were taken: the handset may show a fragment, and a resend would repeat it.
            return UnknownOutcome("partial_message", f"{len(ids)} of {flight.segments} parts accepted; {errors[0]}")
        return errors[0]

    def _resend_refused_parts(self, session: Session, bodies: list[bytes], outcomes: list, deadline: float) -> list:
        """Write again each part the SMSC refused (answered, not taken); the outcomes with the new answers."""
        outcomes = list(outcomes)
        for _round in range(PART_RESENDS):
            refused = [i for i, o in enumerate(outcomes) if isinstance(o, TemporaryError) and _answered_refusal(o)]
            if not refused:
                break
            wait = max((outcomes[i].retry_after or 0.0) for i in refused)
            if time.monotonic() + wait >= deadline:
                break
            time.sleep(wait)
            for i in refused:
                try:
                    pending = session.submit(pdu.SUBMIT_SM, bodies[i], self.response_timeout)
                except BindLost as exc:
                    outcomes[i] = NotSent("bind_lost", str(exc))
                    continue
                outcomes[i] = (self._answer(session, pending, deadline) if pending is not None
                               else NotSent("window_full", "no window slot within the response timeout"))
        return outcomes

    def _answer(self, session: Session, pending: Pending, deadline: float) -> str | SendError:
        """The SMSC's message id for one part, or the typed error its response (or silence) means."""
        if not session.wait(pending, max(0.0, deadline - time.monotonic())):
            return UnknownOutcome("response_timeout", "no submit_sm_resp in time")
        if pending.unsent:
            return NotSent("bind_lost", "bind dropped before submit_sm was written")
        if pending.lost:
            return UnknownOutcome("bind_lost", "bind dropped after submit_sm was written", gateway_fault="down")
        if pending.status != pdu.ESME_ROK:
            return status_error(pending.status or 0, self.throttle_retry_after_s)
        return pdu.submit_sm_resp_message_id(pending.body)

    # ---- the bind -----------------------------------------------------------

    def _session(self) -> Session:
        """This process's live bind, (re)opened if needed; NotSent while backing off after a failure."""
        bind = self._process_bind()
        with bind.lock:
            session = bind.state.get("session")
            if session is not None and not session.closed:
                return session
            wait = bind.state.get("next_attempt", 0.0) - time.monotonic()
            if wait > 0:
                raise NotSent("bind_backoff", "reconnecting to the SMSC", retry_after=wait)
            try:
                session = Session.open((self.host, self.port), self._credentials, self.connect_timeout,
                                       self.window_size, self.enquire_link_s, self._store_receipts,
                                       self.receipt_queue)
            except (BindRefused, OSError) as exc:
                raise self._bind_failed(bind, exc) from exc
            bind.state.update(session=session, backoff_s=0.0, next_attempt=0.0)
            return session

    def _bind_failed(self, bind: _Bind, exc: Exception) -> SendError:
        """Schedule the next attempt (doubling the wait) and name the failure."""
        backoff = min(self.reconnect_max_s, max(self.reconnect_min_s, 2 * bind.state.get("backoff_s", 0.0)))
        bind.state.update(session=None, backoff_s=backoff, next_attempt=time.monotonic() + backoff)
        if not isinstance(exc, BindRefused):
            return NotSent("connect_failed", str(exc), retry_after=backoff)
        if exc.status in BIND_REJECTIONS:
            return GatewayRejected(status_name(exc.status), "bind_transceiver refused")
        return NotSent(status_name(exc.status), "bind_transceiver refused", retry_after=backoff)

    def _process_bind(self) -> _Bind:
        """The bind state of this process; a forked child starts its own and leaves the parent's socket be."""
        bind = self._bind
        pid = os.getpid()
        if bind is None or bind.pid != pid:
            with _bind_lock:
                bind = self._bind
                if bind is None or bind.pid != pid:
                    bind = self._bind = _Bind(pid, threading.Lock(), {})
        return bind

    def probe(self) -> None:
        """Bind if needed and run one enquire_link; raise the SendError a send would have met."""
        if not self._session().enquire(self.connect_timeout):
            raise TemporaryError("enquire_link_timeout", "SMSC did not answer enquire_link", gateway_fault="down")

    def close(self) -> None:
        """Unbind this process's session; the next send binds again."""
        bind = self._bind
        if bind is not None and bind.pid == os.getpid():
            session = bind.state.pop("session", None)
            if session is not None:
                session.close()

    # ---- delivery receipts --------------------------------------------------

    def _store_receipts(self, fields: list[dict[str, str]]) -> bool:
        """Hand on a read's deliver_sm: receipts as reports, mobile-originated texts as inbound messages.

        True once both are stored; a callback that raises leaves every one unacknowledged, so the
        SMSC delivers them again (storing either twice is harmless: both are deduplicated).
        """
        reports, inbound = [], []
        for form in fields:
            if is_mobile_originated(form):
                inbound.append(self.parse_mobile_originated(form))
                continue
            try:
                reports.append(self.parse_delivery_report(form))
            except ValueError as exc:
                log.warning("smpp %s: unreadable deliver_sm ignored: %s", self.system_id, exc)
        if inbound and self.on_inbound is not None:
            self.on_inbound(inbound)
        elif inbound:
            log.warning("smpp %s: %d inbound messages dropped: no on_inbound callback", self.system_id, len(inbound))
        if reports and self.on_receipts is not None:
            self.on_receipts(reports)
        elif reports:
            log.warning("smpp %s: %d receipts dropped: no on_receipts callback", self.system_id, len(reports))
        return True

    def parse_mobile_originated(self, form: Mapping[str, str]) -> InboundMessage:
        """A text a person sent (deliver_sm with no receipt bit); SMPP carries no id or time for it."""
        sender = form.get("source_addr", "")
        if form.get("source_addr_ton") == "1" and sender.isdigit():
            sender = "+" + sender  # an international number, written without its '+'
        return InboundMessage(sender=sender, to=form.get("destination_addr", ""),
                              text=form.get("short_message", ""))

    def verify(self, request) -> bool:
        """Never: an SMSC sends its receipts over the bind (deliver_sm), so no HTTP callback is this account's."""
        return False

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport:
        """A receipt from deliver_sm fields (TLVs first, then the receipt text); ValueError if not one."""
        text = pdu.receipt_fields(form.get("short_message", ""))
        message_id = form.get("receipted_message_id") or text.get("id", "")
        state = (form.get("message_state") or text.get("stat", "")).upper()
        if not message_id or not state:
            raise ValueError("deliver_sm is not a delivery receipt (no message id or state)")
        if state not in RECEIPT_STATES:
            raise ValueError(f"unknown SMPP receipt state {state!r} for {message_id!r}")
        error = text.get("err") or form.get("network_error_code", "")
        failed = RECEIPT_STATES[state] not in (None, "delivered")
        return DeliveryReport(provider_message_id=message_id, status=RECEIPT_STATES[state], provider_status=state,
                              failure_reason=f"{state} err:{error}" if failed else None, raw=dict(form))


def _submit_bodies(message: OutboundMessage, source: str, reference: int) -> list[bytes]:
    """One submit_sm body per part of the message; ValueError if SMPP cannot carry it."""
    if not message.to.lstrip("+").isdigit() or not source.isascii():
        raise ValueError(f"address not SMPP-encodable: to={message.to!r} source={source!r}")
    encoded = encode_body(message.body, reference)
    esm_class = pdu.ESM_CLASS_UDHI if encoded.concatenated else 0
    return [pdu.submit_sm_body(pdu.Submit(source, message.to, esm_class, encoded.data_coding, part))
            for part in encoded.parts]


_bind_lock = threading.Lock()
os.register_at_fork(after_in_child=lambda: globals().update(_bind_lock=threading.Lock()))


def _answered_refusal(error: SendError) -> bool:
    """True for an error the SMSC answered (an error status): that part was certainly not taken."""
    return error.code.startswith("ESME_") and not isinstance(error, (UnknownOutcome, NotSent))


def is_mobile_originated(form: Mapping[str, str]) -> bool:
    """True for a deliver_sm whose message type (esm_class bits 2-5) is the default: a person's text."""
    try:
        esm_class = int(form.get("esm_class", "4"))
    except ValueError:
        return False
    return esm_class & 0x3C == 0 and bool(form.get("source_addr")) and "receipted_message_id" not in form
