"""What the sandbox SMTP server took, parsed back, and what it counted: read at /_sandbox/smtp/messages.

Every accepted message is kept as it was read (no deduplication: a message sent twice is here
twice), parsed back into From, To, Subject, Message-ID, its headers and its text and HTML parts,
with the envelope and the connection that carried it. The newest MAX_KEPT are kept; the counts
cover every one. Used from the event loop's thread only, so it takes no lock.
"""
from __future__ import annotations

import base64
import email.policy
from collections import deque
from email import message_from_bytes
from email.message import EmailMessage

MAX_KEPT = 10_000
COUNTERS = (
    "connections",  # TCP connections accepted
    "sessions",  # EHLO / HELO
    "starttls",  # sessions that went on over TLS
    "auth_ok", "auth_failed",
    "mails",  # MAIL FROM taken
    "rsets",
    "accepted",  # messages taken (a 250 sent, or cut by drop-after-DATA after they were taken)
    "rcpt_temporary", "rcpt_permanent",  # RCPT TO refused with a 4xx / 5xx
    "drops_after_data",  # taken, and the connection cut before the 250 went out
    "closed_at_limit",  # MAIL FROM answered 421 at smtp_max_messages_per_connection
)


class SmtpLedger:
    """Counters, accepted messages per connection, and the newest accepted messages parsed back."""

    def __init__(self) -> None:
        """Nothing counted, nothing kept."""
        self.clear()

    def clear(self) -> None:
        """Zero every count and forget every message."""
        for name in COUNTERS:
            setattr(self, name, 0)
        self.messages: deque[dict] = deque(maxlen=MAX_KEPT)
        self.per_connection: dict[int, int] = {}
        self._sequence = 0

    def count(self, name: str) -> None:
        """Add one to a counter."""
        setattr(self, name, getattr(self, name) + 1)

    def accept(self, connection: int, mail_from: str, rcpt_tos: list[str], content: bytes) -> dict:
        """Record one taken message, parsed back; the record."""
        self.accepted += 1
        self.per_connection[connection] = self.per_connection.get(connection, 0) + 1
        self._sequence += 1
        record = {"seq": self._sequence, "connection": connection, "mail_from": mail_from,
                  "rcpt_tos": list(rcpt_tos), **parse_message(content)}
        self.messages.append(record)
        return record

    def snapshot(self) -> dict:
        """The counts, for /_sandbox/ledger under "smtp"."""
        data = {name: getattr(self, name) for name in COUNTERS}
        data["messages_per_connection"] = {str(c): n for c, n in self.per_connection.items()}
        data["max_messages_per_connection"] = max(self.per_connection.values(), default=0)
        return data

    def since(self, after: int, limit: int) -> tuple[list[dict], bool]:
        """Kept messages with seq > after, oldest first, at most `limit`; and whether more remain."""
        picked = [record for record in self.messages if record["seq"] > after]
        return picked[:limit], len(picked) > limit


def parse_message(content: bytes) -> dict:
    """A message's headers and parts as a mail reader sees them, and its bytes (base64)."""
    mail: EmailMessage = message_from_bytes(content, policy=email.policy.default)
    return {
        "from": str(mail.get("From", "")), "to": str(mail.get("To", "")), "subject": str(mail.get("Subject", "")),
        "message_id": str(mail.get("Message-ID", "")).strip(),
        "headers": [[name, str(value)] for name, value in mail.items()],
        "content_type": mail.get_content_type(),
        "text": _part(mail, "plain"), "html": _part(mail, "html"),
        "size": len(content), "raw_b64": base64.b64encode(content).decode("ascii"),
    }


def _part(mail: EmailMessage, subtype: str) -> str | None:
    """The decoded text of the message's text/<subtype> body, or None when it has none."""
    part = mail.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        return part.get_content().replace("\r\n", "\n")
    except (LookupError, ValueError):
        return None
