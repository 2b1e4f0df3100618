"""Services (tenants) and API keys: keys are shown once and stored hashed."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

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


def service_for_key(plaintext: str) -> int | None:
    """The service a live key belongs to, or None."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    row = db.session.execute(
        select(ApiKey.service_id).where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
    ).first()
    return row[0] if row else None
