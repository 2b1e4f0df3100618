"""The dead_letter queue: each entry passes here on its way to the operator (visible in Flower)."""
from __future__ import annotations

import logging

from celery import shared_task

from app.redis_store import get_redis

log = logging.getLogger(__name__)


@shared_task(name="tasks.dead_letters.announce_dead_letters")
def announce_dead_letters(dead_letter_ids: list[int]) -> int:
    """Log new dead letters and count them for /metrics; the rows are already in PostgreSQL."""
    get_redis().incrby("herald:metrics:dead_letters_total", len(dead_letter_ids))
    log.warning("dead-lettered %d messages: ids %s", len(dead_letter_ids), dead_letter_ids[:50])
    return len(dead_letter_ids)
