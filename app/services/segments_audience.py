"""A broadcast addressed to a segment: counted at POST, turned into messages rows by the producer.

The audience is never loaded into Python. At POST time Herald counts it and fixes its bounds
(the filter as it stands, the highest contact id). Each producer tick that finds the broadcast's
pending rows running low runs one INSERT … SELECT over the next page of contacts in id order
(keyset, `cursor` on broadcast_audiences), judging each row as intake does: E.164 and carrier from
the contact, personalisation from its attributes, `rejected` for a bad number or a missing
placeholder, `opted_out` when the contact withdrew consent on the channel.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Broadcast, BroadcastAudience
from app.services import broadcast_state, guard, segments
from app.services.broadcast_request import BroadcastSpec
from app.services.intake import IntakeResult, find_replay
from app.services.segments_filter import Compiled, compile_filter
from app.services.send_windows import settle_zone
from app.services.templates import compile_template

AUDIENCE_KEYS = ("segment", "filter", "exclude_received")
# Statuses that mean the person got (or very likely got) the message.
RECEIVED = ("sent", "unknown_delivery", "delivered")
# Pages one tick may turn into rows while every row of a page comes out rejected or duplicate.
MAX_PAGES_PER_TICK = 4
_SCOPE = """c.service_id = :sid AND c.id <= :ceiling AND c.phone IS NOT NULL AND {filter}
   AND (CAST(:excl AS uuid) IS NULL OR NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.broadcast_id = CAST(:excl AS uuid) AND m.recipient = c.phone
           AND m.status = ANY(CAST(:received AS text[]))))"""
_CEILING = text("SELECT COALESCE(max(id), 0) FROM contacts WHERE service_id = :sid")
_OWNED = text("SELECT 1 FROM broadcasts WHERE id = :bid AND service_id = :sid")
_OPEN = text("SELECT 1 FROM broadcast_audiences WHERE broadcast_id = :bid AND NOT done")
_LOCK = text("""
SELECT a.service_id, a.filter, a.exclude_broadcast_id, a.id_ceiling, a.cursor, b.body, b.channel
  FROM broadcast_audiences a JOIN broadcasts b ON b.id = a.broadcast_id
 WHERE a.broadcast_id = :bid AND NOT a.done FOR UPDATE OF a
""")
# The suppression list (STOP, the API) speaks for the number whatever the contact's consent says.
_ON_LIST = """EXISTS (SELECT 1 FROM opt_outs o
                 WHERE o.service_id = c.service_id AND o.channel = CAST(:channel AS text) AND o.address = c.phone)"""
_PAGE = """
WITH page AS (
  SELECT c.id, c.phone, c.phone_carrier, c.phone_region, c.phone_error,
         c.attributes || jsonb_strip_nulls(jsonb_build_object('external_id', c.external_id, 'language', c.language)) AS p,
         (c.consent -> CAST(:channel AS text) ->> 'granted') = 'false' AS refused,
         """ + _ON_LIST + """ AS listed
    FROM contacts c WHERE c.id > :cursor AND """ + _SCOPE + """
   ORDER BY c.id LIMIT :page
), judged AS (
  SELECT page.*,
         (SELECT string_agg(f, ',') FROM unnest(CAST(:fields AS text[])) f WHERE COALESCE(p ->> f, '') = '') AS missing,
         CAST(:literal AS int) + (SELECT COALESCE(sum(length(p ->> f)), 0)
                                    FROM unnest(CAST(:fields AS text[])) f) AS chars
    FROM page
), ins AS (
  INSERT INTO messages (broadcast_id, service_id, recipient, personalisation, carrier, region, status, error_code,
                        error_detail)
  SELECT :bid, :sid, phone, p, phone_carrier, phone_region,
         CASE WHEN phone_error IS NOT NULL OR missing IS NOT NULL OR chars > :max_chars THEN 'rejected'
              WHEN refused OR listed THEN 'opted_out' ELSE 'pending' END,
         CASE WHEN phone_error IS NOT NULL THEN phone_error WHEN missing IS NOT NULL THEN 'missing_personalisation'
              WHEN chars > :max_chars THEN 'message_too_long' WHEN refused THEN 'consent_withdrawn'
              WHEN listed THEN 'opted_out' END,
         CASE WHEN phone_error IS NOT NULL THEN NULL WHEN missing IS NOT NULL THEN missing
              WHEN chars > :max_chars THEN chars || ' characters; the limit is ' || :max_chars END
    FROM judged ORDER BY id
  ON CONFLICT (broadcast_id, recipient) DO NOTHING
  RETURNING status)
SELECT (SELECT max(id) FROM page) AS last_id, (SELECT count(*) FROM page) AS scanned,
       (SELECT count(*) FROM ins WHERE status = 'pending') AS accepted,
       (SELECT count(*) FROM ins WHERE status <> 'pending') AS refused
"""
_ADVANCE = text("""
UPDATE broadcast_audiences SET cursor = COALESCE(:last, cursor), done = :done WHERE broadcast_id = :bid
""")
_TALLY = text("""
UPDATE broadcasts SET accepted_count = accepted_count + :accepted, rejected_count = rejected_count + :refused,
       duplicate_count = duplicate_count + :duplicates, updated_at = now() WHERE id = :bid
""")


@dataclass(frozen=True)
class Audience:
    """A validated audience: the filter to resolve, where it came from, and whom to leave out."""

    filter: object
    compiled: Compiled
    segment_name: str | None
    exclude_broadcast_id: uuid.UUID | None


def wanted(payload: dict) -> bool:
    """True when a broadcast request addresses contacts rather than a recipient list."""
    return any(key in payload for key in AUDIENCE_KEYS)


def _exclusion(service_id: int, value: object) -> uuid.UUID | None:
    """The broadcast whose receivers are left out: one of this service's, or 422."""
    if value is None:
        return None
    try:
        bid = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        bid = None
    if bid is None or db.session.execute(_OWNED, {"bid": bid, "sid": service_id}).first() is None:
        raise ValidationFailed("exclude_received must be the id of one of this service's broadcasts",
                               {"field": "exclude_received"}, code="unknown_broadcast")
    return bid


def parse_audience(service_id: int, payload: dict) -> Audience:
    """The audience of a request: a saved segment's name or an inline filter, and an optional exclusion."""
    if "recipients" in payload:
        raise ValidationFailed("give recipients or an audience (segment / filter), not both", {"field": "recipients"})
    if ("segment" in payload) == ("filter" in payload):
        raise ValidationFailed("give exactly one of segment (a saved name) or filter", {"field": "segment"})
    name = payload.get("segment")
    if "segment" in payload:
        if not isinstance(name, str):
            raise ValidationFailed("segment must be a saved segment's name", {"field": "segment"})
        spec = segments.stored_filter(service_id, name)
        compiled = segments.checked_filter(service_id, spec, "segment")
    else:
        spec = payload["filter"]
        compiled = segments.checked_filter(service_id, spec, "filter")
    return Audience(spec, compiled, name, _exclusion(service_id, payload.get("exclude_received")))


def _scope_params(service_id: int, compiled: Compiled, ceiling: int, exclude) -> dict:
    """Bind parameters shared by the count and the page statements."""
    return {**compiled.params, "sid": service_id, "ceiling": ceiling, "excl": str(exclude) if exclude else None,
            "received": list(RECEIVED)}


def count_audience(service_id: int, audience: Audience, ceiling: int) -> int:
    """How many contacts (with a phone) the audience holds right now."""
    sql = "SELECT count(*) FROM contacts c WHERE " + _SCOPE.format(filter=audience.compiled.sql)
    return db.session.execute(text(sql), _scope_params(service_id, audience.compiled, ceiling,
                                                        audience.exclude_broadcast_id)).scalar()


def create_broadcast(service_id: int, spec: BroadcastSpec, audience: Audience, *, provider: str, actor: str,
                     idempotency_key: str | None, fingerprint: str) -> tuple[IntakeResult, int]:
    """Write the broadcast and its audience cursor (no messages yet); (result, audience count)."""
    replay = find_replay(service_id, idempotency_key, fingerprint)
    if replay is not None:
        return IntakeResult(replay, created=False), replay.recipient_count
    # Contacts carry no time zone of their own yet: a window needs an explicit one.
    window = settle_zone(spec.send_window, set())
    ceiling = db.session.execute(_CEILING, {"sid": service_id}).scalar()
    total = count_audience(service_id, audience, ceiling)
    status = "scheduled" if spec.scheduled_for else ("running" if total else "completed")
    broadcast = Broadcast(
        id=uuid.uuid4(), service_id=service_id, channel=spec.channel, provider=provider, body=spec.body,
        sender=spec.sender, priority=spec.priority, status=status, rate_limit_per_second=spec.rate_limit_per_second,
        scheduled_for=spec.scheduled_for, idempotency_key=idempotency_key, request_hash=fingerprint,
        recipient_count=total, options={"send_window": window} if window else {},
        started_at=func.now() if status == "running" else None)
    try:
        _store(broadcast, audience, ceiling, actor)
    except IntegrityError:
        # Two requests raced on one Idempotency-Key: the first one's broadcast is the answer.
        db.session.rollback()
        replay = find_replay(service_id, idempotency_key, fingerprint)
        if replay is None:
            raise
        return IntakeResult(replay, created=False), replay.recipient_count
    guard.publish(broadcast.id, status, 1)
    return IntakeResult(broadcast, created=True), total


def _store(broadcast: Broadcast, audience: Audience, ceiling: int, actor: str) -> None:
    """Insert the broadcast, its audience cursor and the create audit row, and commit."""
    db.session.add(broadcast)
    db.session.flush()
    db.session.add(BroadcastAudience(
        broadcast_id=broadcast.id, service_id=broadcast.service_id, filter=audience.filter,
        segment_name=audience.segment_name, exclude_broadcast_id=audience.exclude_broadcast_id, id_ceiling=ceiling,
        done=broadcast.recipient_count == 0))
    details = {"audience": broadcast.recipient_count, "segment": audience.segment_name,
               "exclude_received": str(audience.exclude_broadcast_id) if audience.exclude_broadcast_id else None}
    broadcast_state.record_audit(broadcast.service_id, broadcast.id, actor, "create", None, broadcast.status,
                                 "empty audience" if broadcast.status == "completed" else None, details)
    db.session.commit()


_PREVIEW_PAGE = """
SELECT c.id, c.phone,
       c.attributes || jsonb_strip_nulls(jsonb_build_object('external_id', c.external_id, 'language', c.language)) AS p,
       (c.consent -> CAST(:channel AS text) ->> 'granted') = 'false' OR """ + _ON_LIST + """ AS refused
  FROM contacts c WHERE c.id > :cursor AND """ + _SCOPE + """
 ORDER BY c.id LIMIT :page
"""


class PreviewItems:
    """The audience as recipient items for a dry run, read page by page (keyset), never loaded whole.

    Contacts who withdrew consent on the channel are not yielded but counted in `withdrawn`,
    as the producer would write them `opted_out`.
    """

    def __init__(self, service_id: int, audience: Audience, channel: str, page_size: int = 5000) -> None:
        """Bound the audience now (its highest contact id), as a real broadcast would."""
        self.service_id, self.audience, self.channel, self.page_size = service_id, audience, channel, page_size
        self.ceiling = db.session.execute(_CEILING, {"sid": service_id}).scalar()
        self.withdrawn = 0

    def __iter__(self):
        """{"to", "personalisation"} per contact with a phone, in id order."""
        sql = text(_PREVIEW_PAGE.format(filter=self.audience.compiled.sql))
        params = {**_scope_params(self.service_id, self.audience.compiled, self.ceiling,
                                  self.audience.exclude_broadcast_id),
                  "channel": self.channel, "page": self.page_size, "cursor": 0}
        while True:
            rows = db.session.execute(sql, params).all()
            for row in rows:
                if row.refused:
                    self.withdrawn += 1
                else:
                    yield {"to": row.phone, "personalisation": row.p}
            if len(rows) < self.page_size:
                return
            params["cursor"] = rows[-1].id


def is_open(broadcast_id) -> bool:
    """True while some of a broadcast's audience is not yet turned into rows (it must not complete)."""
    return db.session.execute(_OPEN, {"bid": broadcast_id}).first() is not None


def _page(broadcast_id, row, page_size: int, max_chars: int):
    """One INSERT … SELECT of the next page of contacts; (last id, scanned, accepted, refused)."""
    compiled = compile_filter(row.filter)
    template = compile_template(row.body)
    params = {**_scope_params(row.service_id, compiled, row.id_ceiling, row.exclude_broadcast_id),
              "bid": broadcast_id, "cursor": row.cursor, "page": page_size, "channel": row.channel,
              "fields": list(template.fields), "literal": template.literal_chars, "max_chars": max_chars}
    return db.session.execute(text(_PAGE.format(filter=compiled.sql)), params).one()


def extend(broadcast_id, page_size: int, max_chars: int) -> int:
    """Turn the next page(s) of the audience into messages rows; pending rows added (0 if none is open)."""
    added = 0
    for _ in range(MAX_PAGES_PER_TICK):
        row = db.session.execute(_LOCK, {"bid": broadcast_id}).first()
        if row is None:
            db.session.rollback()
            return added
        last, scanned, accepted, refused = _page(broadcast_id, row, page_size, max_chars)
        db.session.execute(_ADVANCE, {"bid": broadcast_id, "last": last, "done": scanned < page_size})
        db.session.execute(_TALLY, {"bid": broadcast_id, "accepted": accepted, "refused": refused,
                                    "duplicates": scanned - accepted - refused})
        db.session.commit()
        added += accepted
        if accepted or scanned < page_size:
            return added
    return added
