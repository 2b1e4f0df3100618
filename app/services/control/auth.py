"""Services (tenants) and API keys: keys are shown once and stored hashed."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import ApiKey, Service

KEY_PREFIX = "hk_"


def hash_key(plaintext: str) -> str:
    """The stored form of a key: SHA-256, since keys are long random tokens."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_service(name: str, timezone: str = "Africa/Lusaka") -> Service:
    """Create a tenant."""
    service = Service(name=name, timezone=timezone)
    db.session.add(service)
    db.session.commit()
    return service


def create_api_key(service_id: int, name: str = "default") -> str:
    """Create a key for a service and return its plaintext, which is never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiKey(service_id=service_id, name=name, prefix=plaintext[:10], key_hash=hash_key(plaintext)))
    db.session.commit()
    return plaintext


@dataclass(frozen=True)
class Caller:
    """Who a live key speaks for, and how the audit log names the key (never by its secret)."""

    service_id: int
    key_id: int
    key_name: str

    @property
    def actor(self) -> str:
        """The audit log's name for this key: its id and name."""
        return f"api_key:{self.key_id}:{self.key_name}"


def caller_for_key(plaintext: str) -> Caller | None:
    """The service and key a live key is, or None (unknown or revoked: checked on every request)."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    row = db.session.execute(
        select(ApiKey.service_id, ApiKey.id, ApiKey.name)
        .where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
    ).first()
    return Caller(*row) if row else None


def list_api_keys(service_id: int) -> list[ApiKey]:
    """A service's keys, oldest first (their hashes stay in the database)."""
    return list(db.session.scalars(select(ApiKey).where(ApiKey.service_id == service_id).order_by(ApiKey.id)))


def revoke_api_key(key_id: int) -> bool | None:
    """Revoke a key at once; True if revoked now, False if it already was, None if no such key."""
    revoked = db.session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                                 .values(revoked_at=func.now()).returning(ApiKey.id)).first()
    db.session.commit()
    if revoked:
        return True
    return False if db.session.get(ApiKey, key_id) is not None else None
