"""Idempotency-Key: the same key and the same request replay the first answer; another request is refused."""
from __future__ import annotations

import hashlib

from app.errors import ValidationFailed

FIELD = "Idempotency-Key"
# The header's value: 1-255 printable ASCII characters (declared in app/api/params.py, checked there).
MAX_KEY_CHARS = 255


def request_fingerprint(*parts: bytes) -> str:
    """A hash of the request, to tell a true replay from a reused key."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()


def check_replay(key: str, stored_fingerprint: str | None, fingerprint: str, resource: dict) -> None:
    """422 `idempotency_key_reused` when a key comes back with a different request.

    Rows written before fingerprints were stored (None) cannot be compared and replay as before.
    """
    if stored_fingerprint is not None and stored_fingerprint != fingerprint:
        raise ValidationFailed(f"{FIELD} {key!r} was already used with a different request body",
                               {"field": FIELD, "key": key, **resource}, code="idempotency_key_reused")
