"""SMS: phone numbers in E.164 (carrier and region known by prefix), priced and paced per part."""
from __future__ import annotations

from dataclasses import dataclass

from app.services.channels import recipients
from app.services.channels.channel import Channel
from app.services.channels.recipients import Verdict
from providers.parts import count_segments


@dataclass(frozen=True)
class Sms(Channel):
    """A text to a mobile number: GSM-7 or UCS-2 parts are what it costs and what the rate limit counts."""

    def classify(self, raw: object, region: str) -> tuple[str | None, Verdict]:
        """E.164 and the number's verdict (valid mobile, carrier, region), or None and why not."""
        return recipients.classify(raw, region)

    def units(self, text: str) -> int:
        """The SMS parts of the text."""
        return count_segments(text)


SMS = Sms("sms", contact_field="phone", unit="part", address_name="mobile number",
          invalid_code="invalid_phone_number", ellipsis="...",
          critical_may_pass=True, sendable=True)
