"""DKIM signing (RFC 6376, rsa-sha256, relaxed/simple) of composed messages, with dkimpy.

The key is read and tried once, when the adapter is built, so a missing or unreadable key is a
configuration error at startup and never a failed send. The headers below are signed even when a
message lacks them (dkimpy then signs them as absent), so nobody on the way can add a From, a
Subject or a List-Unsubscribe that a receiver would take as ours; RFC 8058 asks for exactly that of
List-Unsubscribe and List-Unsubscribe-Post.
"""
from __future__ import annotations

import dkim

from providers.base import ProviderConfigError

SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"mime-version",
                  b"content-type", b"list-unsubscribe", b"list-unsubscribe-post")
_PROBE = b"From: probe@example.invalid\r\nSubject: key check\r\n\r\nkey check\r\n"


class DkimSigner:
    """Signs messages for one domain with one selector's private key."""

    def __init__(self, selector: str, domain: str, private_key_path: str) -> None:
        """Read the PEM key (PKCS#1 or PKCS#8) and sign a probe with it; ProviderConfigError if either fails."""
        if not (selector and domain and private_key_path):
            raise ProviderConfigError("smtp: dkim_selector, dkim_domain and dkim_private_key_path go together")
        self.selector, self.domain = selector.encode("ascii"), domain.encode("ascii")
        try:
            with open(private_key_path, "rb") as key_file:
                self._key = key_file.read()
        except OSError as exc:
            raise ProviderConfigError(f"smtp: cannot read dkim_private_key_path: {exc}") from None
        try:
            self.signature_header(_PROBE)
        except (dkim.DKIMException, ValueError) as exc:
            raise ProviderConfigError(f"smtp: the DKIM key cannot sign: {exc}") from None

    def __repr__(self) -> str:
        """Name the selector and domain, never the key."""
        return f"DkimSigner(selector={self.selector!r}, domain={self.domain!r})"

    def signature_header(self, message: bytes) -> bytes:
        """The DKIM-Signature header line (CRLF-terminated) for a CRLF message."""
        return dkim.sign(message, self.selector, self.domain, self._key, include_headers=list(SIGNED_HEADERS))

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        return self.signature_header(message) + message
