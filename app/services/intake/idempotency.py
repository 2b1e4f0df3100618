"""Idempotency-Key: the same key and the same request replay the first answer; another request is refused."""
from __future__ import annotations

import hashlib

from app.errors import ValidationFailed
from app.services.content.storable_text import check_text

FIELD = "Idempotency-Key"
MAX_KEY_CHARS = 255


def parse_key(value: str | None) -> str | None:
    """The header's key (1-255 printable characters), None when absent, or 422 naming it."""
    if value is None:
        return None
    key = check_text(FIELD, value).strip()
    if not 0 < len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise ValidationFailed(f"{FIELD} must be 1-{MAX_KEY_CHARS} printable characters", {"field": FIELD})
    return key


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
