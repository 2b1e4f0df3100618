"""A throwaway DKIM key pair on disk, and a DNS stub that publishes its public half."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SELECTOR = "herald2026"
DOMAIN = "herald.test"


def write_key(folder: Path, pkcs8: bool = True) -> tuple[str, object]:
    """(the private key's path, a dkimpy dnsfunc answering the selector's TXT record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    layout = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, layout, serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        """The TXT record at <selector>._domainkey.<domain>, and nothing anywhere else."""
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return str(path), dns
