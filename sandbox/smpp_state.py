"""What the sandbox SMSC counts (read at /_sandbox/ledger under "smpp") and the receipts it owes."""
from __future__ import annotations

from sandbox import recipients
from sandbox.ratelimit import TokenBucket

# A refused receipt (deliver_sm_resp with an error) is offered again this often at most.
MAX_RECEIPT_ATTEMPTS = 5
# Report outcome -> (receipt stat, err, message_state TLV value).
RECEIPT_STATES = {
    recipients.DELIVERED: ("DELIVRD", "000", 2),
    recipients.FAILED: ("UNDELIV", "001", 5),
    recipients.ABSENT: ("EXPIRED", "027", 3),
}

_COUNTERS = ("binds", "bind_failures", "submits", "max_outstanding", "drops", "cuts", "cut_unanswered",
             "enquire_links", "receipts_sent", "receipts_acked", "receipts_refused", "mo_acked", "mo_refused")


class SmppStats:
    """Counters the tests read at /_sandbox/ledger under "smpp", and the throttle's bucket."""

    def __init__(self, throttle_per_s: float) -> None:
        """All counters at zero."""
        self.bucket = TokenBucket(throttle_per_s)
        self.clear()

    def clear(self) -> None:
        """Zero every counter (the bucket keeps its rate)."""
        for name in _COUNTERS:
            setattr(self, name, 0)
        self.bucket.set_rate(self.bucket.rate)

    def count_mobile_originated(self, acknowledged: bool) -> None:
        """One person's text answered by the ESME: taken (ROK) or refused."""
        if acknowledged:
            self.mo_acked += 1
        else:
            self.mo_refused += 1

    def snapshot(self) -> dict:
        """The counters as a dict."""
        return {name: getattr(self, name) for name in _COUNTERS}


class Receipt:
    """A receipt owed to the ESME: which message, which number, how often offered, since which reset."""

    __slots__ = ("message_id", "number", "submitted", "attempts", "generation", "origin")

    def __init__(self, message_id: str, number: str, submitted: float, generation: int, origin) -> None:
        """Not offered yet; `origin` is the connection that submitted the message."""
        self.message_id, self.number, self.submitted, self.attempts = message_id, number, submitted, 0
        self.generation, self.origin = generation, origin
