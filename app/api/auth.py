"""Bearer-key authentication: every /v1 view runs as exactly one service."""
from __future__ import annotations

from functools import wraps

from flask import g, request

from app.errors import Unauthorized
from app.services.control.auth import caller_for_key


def require_service(view):
    """Resolve `Authorization: Bearer <key>` to g.service_id, or answer 401."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send 'Authorization: Bearer <api key>'")
        caller = caller_for_key(token.strip())
        if caller is None:
            raise Unauthorized("unknown or revoked API key")
        g.service_id = caller.service_id
        g.actor = caller.actor
        return view(*args, **kwargs)

    return wrapper
