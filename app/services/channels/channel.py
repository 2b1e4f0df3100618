"""What a channel is to Herald: data (its address field, its unit, its text rules) plus a few verbs.

Intake, the fast lane, routing, pacing, the send loop, templates and opt-outs ask a channel these
things instead of naming one. A channel Herald can send on has a module here and a line in the
registry (channels.registry); which providers carry it is said by the providers themselves
(`Provider.channel`).
"""
from __future__ import annotations

from dataclasses import dataclass

from app.services.channels.recipients import Verdict


@dataclass(frozen=True)
class Channel:
    """One channel's rules; the base verbs suit an address that is an opaque, case-insensitive string."""

    name: str
    # The contacts column that holds a person's address on this channel (None: not a contact's field).
    contact_field: str | None
    # What cost and the rate limit count on this channel (an SMS part, an email, a conversation).
    unit: str
    # What an address on this channel is called in an error ("mobile number", "email address").
    address_name: str = "address"
    # The error code of a request whose address is not one.
    invalid_code: str = "invalid_address"
    # What a `truncate` filter ends a cut value with.
    ellipsis: str = "…"
    # Personalisation values are HTML-escaped into the text (an email's HTML part).
    escapes_html: bool = False
    # A template marked service-critical may reach someone on the suppression list (one-time codes).
    critical_may_pass: bool = False
    # Herald can send on it end to end (intake to receipts); the others are named by the API, not yet sent.
    sendable: bool = False

    def classify(self, raw: object, region: str) -> tuple[str | None, Verdict]:
        """An address as messages store it and its verdict; (None, a verdict with the reason) if it is not one."""
        if not isinstance(raw, str):
            return None, Verdict(False, None, "not_a_string")
        address = raw.strip().lower()
        return (address, Verdict(True, None, None)) if address else (None, Verdict(False, None, "empty"))

    def normalise(self, raw: object, region: str) -> str | None:
        """The address as messages store it, or None when it cannot be one."""
        return self.classify(raw, region)[0]

    def units(self, text: str) -> int:
        """How many units of cost and rate one message of this text is."""
        return 1
