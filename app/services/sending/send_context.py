"""What a worker needs to turn claimed rows into wire-ready messages."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.extensions import db
from app.models import Broadcast
from app.services.channels import registry
from app.services.intake import broadcast_content
from app.services.intake.broadcast_content import Content
from app.services.content.templates import compile_template
from providers.base import OutboundMessage

# A broadcast's text and provider never change once created, so each process keeps them.
_cache: dict[str, "SendContext"] = {}
_CACHE_LIMIT = 1000


@dataclass(frozen=True)
class SendContext:
    """The immutable parts of a broadcast a send needs."""

    broadcast_id: str
    service_id: int
    provider: str
    sender: str | None
    # The text as compiled for every path: variants by language, `transliterate` applied after rendering.
    content: Content
    send_window: dict | None = None
    rate_limit_per_second: float | None = None
    channel: str = registry.DEFAULT


def load_send_context(broadcast_id: str) -> SendContext:
    """The broadcast's send context, from this process's cache or PostgreSQL."""
    context = _cache.get(broadcast_id)
    if context is None:
        broadcast = db.session.get(Broadcast, broadcast_id)
        rate, options = broadcast.rate_limit_per_second, broadcast.options or {}
        context = SendContext(broadcast_id, broadcast.service_id, broadcast.provider, broadcast.sender,
                              broadcast_content.for_broadcast(broadcast.body, options, broadcast.channel),
                              options.get("send_window"), float(rate) if rate else None, broadcast.channel)
        db.session.rollback()
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[broadcast_id] = context
    return context


def idempotency_key(broadcast_id: str, recipient: str) -> str:
    """Stable per (broadcast, recipient): every attempt of one message carries the same key."""
    return hashlib.blake2b(f"{broadcast_id}:{recipient}".encode(), digest_size=12).hexdigest()


def outbound_messages(context: SendContext, rows) -> list[OutboundMessage]:
    """Render each claimed row into the message the gateway will receive."""
    render, bid, sender = context.content.render, context.broadcast_id, context.sender
    return [OutboundMessage(row.id, row.recipient, render(row.personalisation), idempotency_key(bid, row.recipient),
                            sender, row.carrier) for row in rows]


def transactional_messages(rows) -> list[OutboundMessage]:
    """Render claimed transactional rows, each with its own text."""
    return [OutboundMessage(row.id, row.recipient, compile_template(row.body).render(row.personalisation),
                            idempotency_key("message", str(row.id)), None, row.carrier) for row in rows]
