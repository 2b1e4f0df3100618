"""DKIM signatures made by the adapter, checked by dkimpy's own verify against a DNS stub."""
from __future__ import annotations

import re

import dkim
import pytest
from dkim_keys import DOMAIN, SELECTOR, write_key

from providers.base import OutboundMessage, ProviderConfigError
from providers.email_dkim import DkimSigner
from providers.email_message import Identity, compose

IDENTITY = Identity(from_address="news@herald.test", from_name="Herald News")
MESSAGE = OutboundMessage(message_id=3, to="person@example.org", body="Boil water.\n.Dots too.", idempotency_key="b1:3",
                          subject="Avis très important", html="<p>Boil water.</p>",
                          unsubscribe_url="https://herald.example/u/3")


@pytest.mark.parametrize("pkcs8", [True, False], ids=["pkcs8", "pkcs1"])
def test_a_signed_message_verifies(tmp_path, pkcs8):
    path, dns = write_key(tmp_path, pkcs8)

    payload = compose(MESSAGE, IDENTITY, DkimSigner(SELECTOR, DOMAIN, path)).payload

    assert dkim.verify(payload, dnsfunc=dns)


def test_the_unsubscribe_headers_are_signed_and_a_changed_subject_fails(tmp_path):
    path, dns = write_key(tmp_path)
    payload = compose(MESSAGE, IDENTITY, DkimSigner(SELECTOR, DOMAIN, path)).payload

    signed = re.search(rb"h=([^;]+);", payload.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b"")).group(1)
    assert {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"subject", b"message-id"} <= {
        name.strip().lower() for name in signed.split(b":")}
    assert not dkim.verify(payload.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=dns)


def test_an_unreadable_key_is_a_config_error_at_startup(tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")

    with pytest.raises(ProviderConfigError, match="dkim_private_key_path"):
        DkimSigner(SELECTOR, DOMAIN, str(tmp_path / "missing.pem"))
    with pytest.raises(ProviderConfigError, match="cannot sign"):
        DkimSigner(SELECTOR, DOMAIN, str(garbage))
    with pytest.raises(ProviderConfigError, match="go together"):
        DkimSigner(SELECTOR, "", str(garbage))
