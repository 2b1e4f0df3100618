"""Composing one email for the wire: headers, the text and HTML parts, and the Message-ID Herald makes.

Every part is 7-bit clean (quoted-printable or base64 where the text needs it), so no server has
to offer 8BITMIME, and lines stay within RFC 5322's limits. Addresses must be ASCII: SMTPUTF8
is not spoken, and a message to an address that needs it is refused before anything is written.

The Message-ID is derived from the message's idempotency key, so every attempt at one message
carries the same one: it is the message's provider id (bounces and events name it), and a mailbox
that drops a repeated Message-ID keeps only one of two attempts that both arrived.
"""
from __future__ import annotations

import email.policy
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from providers.base import OutboundMessage, PermanentError
from providers.email_dkim import DkimSigner

# Folded at 78 like any mail; `cte_type="7bit"` makes non-ASCII text quoted-printable or base64.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
HERALD_ID_HEADER = "X-Herald-Message-Id"
ONE_CLICK = "List-Unsubscribe=One-Click"
# RFC 5322's hard limit is 998 octets a line; the header's name and brackets need the rest.
MAX_UNSUBSCRIBE_URL = 900
# An address SMTP can carry without SMTPUTF8: an ASCII local part and a host name.
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_URL = re.compile(r"https?://[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an account's mail comes from: the From header, the envelope sender, the Message-ID domain."""

    from_address: str
    from_name: str = ""
    reply_to: str = ""
    #: MAIL FROM, where bounces go (the From address when empty)
    return_path: str = ""
    message_id_domain: str = ""
    #: carry the Message-ID in SendGrid's X-SMTPAPI unique_args, so every event names it
    smtpapi: bool = False


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready for one SMTP transaction."""

    sender: str
    recipient: str
    message_id: str  # without angle brackets: the provider id
    payload: bytes  # CRLF lines, not yet dot-stuffed


def is_address(text: str) -> bool:
    """Whether `text` is a bare address SMTP can carry without SMTPUTF8."""
    return _ADDRESS.fullmatch(text or "") is not None


def message_id_for(message: OutboundMessage, domain: str) -> str:
    """The Message-ID (without brackets): stable per idempotency key, random without one."""
    key = message.idempotency_key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32] if key else secrets.token_hex(16)
    return f"{digest}.{message.message_id}@{domain}"


def compose(message: OutboundMessage, identity: Identity, signer: DkimSigner | None = None) -> Composed:
    """The message's envelope and bytes, DKIM-signed when a signer is given; PermanentError if unencodable."""
    sender = message.sender if message.sender and is_address(message.sender) else identity.from_address
    if not is_address(message.to):
        raise PermanentError("invalid_address", f"not an address SMTP can carry: {message.to!r}")
    domain = identity.message_id_domain or sender.rpartition("@")[2]
    message_id = message_id_for(message, domain)
    try:
        body = _mime(message, identity, sender, message_id).as_bytes()
    except (ValueError, TypeError, UnicodeError) as exc:
        raise PermanentError("unencodable_message", str(exc)) from None
    payload = _raw_headers(message, identity, message_id) + body
    if signer is not None:
        payload = signer.sign(payload)
    return Composed(identity.return_path or sender, message.to, message_id, payload)


def _mime(message: OutboundMessage, identity: Identity, sender: str, message_id: str) -> EmailMessage:
    """The headers the email package folds and encodes, and the text (and HTML) parts."""
    mail = EmailMessage(policy=POLICY)
    mail["From"] = formataddr((identity.from_name, sender)) if identity.from_name else sender
    mail["To"] = message.to
    if identity.reply_to:
        mail["Reply-To"] = identity.reply_to
    mail["Subject"] = message.subject or ""
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{message_id}>"
    mail[HERALD_ID_HEADER] = str(message.message_id)
    mail.set_content(message.body)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _raw_headers(message: OutboundMessage, identity: Identity, message_id: str) -> bytes:
    """Headers written as they are: the email package would encode a long URL into encoded-words."""
    lines = []
    if message.unsubscribe_url:
        url = message.unsubscribe_url
        if not _URL.fullmatch(url) or len(url) > MAX_UNSUBSCRIBE_URL or "<" in url or ">" in url:
            raise PermanentError("unencodable_message", "unsubscribe_url must be one http(s) URL, ASCII, no spaces")
        lines += [f"List-Unsubscribe: <{url}>", f"List-Unsubscribe-Post: {ONE_CLICK}"]
    if identity.smtpapi:
        lines.append("X-SMTPAPI: " + json.dumps({"unique_args": {"herald_message_id": message_id}}))
    return "".join(f"{line}\r\n" for line in lines).encode("ascii")
