"""GET /metrics: Prometheus gauges computed at scrape time from PostgreSQL and Redis."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import celeryconfig
from app.api.contract import accepts
from app.errors import Unauthorized
from app.extensions import db
from app.redis_store import get_redis
from app.statuses import OPEN_MESSAGE_STATUSES, BroadcastStatus, MessageStatus, sql_literal

bp = Blueprint("metrics", __name__)
DEAD_LETTERS_COUNTER = "herald:metrics:dead_letters_total"
# A scrape must never hold a connection for long, whatever the table sizes.
_STATEMENT_TIMEOUT = text("SET LOCAL statement_timeout = '5s'")
_BROADCASTS = text("SELECT status, count(*) FROM broadcasts GROUP BY status")
# Two equalities joined by OR, not IN (...): each arm then matches its partial index
# (ix_messages_pending, ix_messages_processing_lease) and the planner ORs the two
# bitmaps; with IN the planner cannot prove the partial predicates and walks a full index.
_OPEN_MESSAGES = text(f"""
SELECT status, broadcast_id IS NULL AS transactional, count(*)
  FROM messages WHERE status = {sql_literal(MessageStatus.PENDING)} OR status = {sql_literal(MessageStatus.PROCESSING)}
 GROUP BY 1, 2
""")
# Both counts read partial indexes (uq_dead_letters_open_message, ix_delivery_events_unapplied).
_BACKLOGS = text("""
SELECT (SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL),
       (SELECT count(*) FROM delivery_events WHERE applied_at IS NULL)
""")


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    """An empty gauge family."""
    return GaugeMetricFamily(name, documentation, labels=labels)


def _single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """A gauge with one unlabelled sample."""
    return GaugeMetricFamily(name, documentation, value=value)


def database_counts() -> tuple[dict, dict, int, int]:
    """(broadcasts by status, open messages by (status, lane), open dead letters, unapplied reports)."""
    db.session.execute(_STATEMENT_TIMEOUT)
    # Every label value is present, at 0 when absent, so a series never vanishes between scrapes.
    broadcasts = {status.value: 0 for status in BroadcastStatus}
    broadcasts.update(db.session.execute(_BROADCASTS).all())
    open_rows = {(status, lane): 0 for status in sorted(OPEN_MESSAGE_STATUSES)
                 for lane in ("broadcast", "transactional")}
    for status, transactional, count in db.session.execute(_OPEN_MESSAGES):
        open_rows[(status, "transactional" if transactional else "broadcast")] = count
    dead, unapplied = db.session.execute(_BACKLOGS).one()
    db.session.rollback()
    return broadcasts, open_rows, dead, unapplied


def database_families() -> list:
    """The PostgreSQL-backed gauges."""
    broadcasts, open_rows, dead, unapplied = database_counts()
    by_status = _gauge("herald_broadcasts", "Broadcasts by status.", ["status"])
    for status, count in sorted(broadcasts.items()):
        by_status.add_metric([status], count)
    messages = _gauge("herald_messages_open", "Messages not yet handed to the gateway, by status and lane.",
                      ["status", "lane"])
    for (status, lane), count in sorted(open_rows.items()):
        messages.add_metric([status, lane], count)
    return [by_status, messages, _single("herald_dead_letters_open", "Dead letters waiting for an operator.", dead),
            _single("herald_delivery_events_unapplied", "Delivery reports stored but not yet applied.", unapplied)]


def redis_families() -> list:
    """Celery queue depths and the dead-letter counter, read in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for queue in celeryconfig.QUEUE_NAMES:
        pipe.llen(queue)
    pipe.get(DEAD_LETTERS_COUNTER)
    *depths, dead_total = pipe.execute()
    queues = _gauge("herald_celery_queue_length", "Tasks waiting in each Celery queue on the broker.", ["queue"])
    for queue, depth in zip(celeryconfig.QUEUE_NAMES, depths):
        queues.add_metric([queue], depth)
    counter = CounterMetricFamily("herald_dead_letters", "Messages dead-lettered since the counter was created.",
                                  value=int(dead_total or 0))
    return [queues, counter]


class ScrapeCollector:
    """Collects every family once per scrape; a store that is down leaves its families out."""

    def collect(self):
        """Yield the families, then whether each store answered."""
        up = _gauge("herald_metrics_source_up", "1 when the store answered this scrape, else 0.", ["source"])
        for source, collect, errors in (("postgresql", database_families, SQLAlchemyError),
                                        ("redis", redis_families, RedisError)):
            try:
                yield from collect()
                up.add_metric([source], 1)
            except errors:
                # Leave the failed store's gauges out rather than report zeros that look real.
                if source == "postgresql":
                    db.session.rollback()
                up.add_metric([source], 0)
        yield up


LOOPBACK = {"127.0.0.1", "::1"}
# Headers a reverse proxy adds: through one, the peer address is the proxy's, not the client's.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _from_loopback() -> bool:
    """True when the request came straight from this host, not through a proxy."""
    return request.remote_addr in LOOPBACK and not any(name in request.headers for name in PROXY_HEADERS)


def require_scrape_token() -> None:
    """Let loopback scrapes through; anyone else needs `Authorization: Bearer <HERALD_METRICS_TOKEN>`."""
    if _from_loopback():
        return
    expected = current_app.config["HERALD_METRICS_TOKEN"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                              expected.encode()):
        raise Unauthorized("/metrics from another host needs 'Authorization: Bearer <HERALD_METRICS_TOKEN>'")


@bp.get("/metrics")
@accepts()
def metrics():
    """Prometheus text exposition format 0.0.4: counts only, no message content; a token unless on loopback."""
    require_scrape_token()
    return Response(generate_latest(ScrapeCollector()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
