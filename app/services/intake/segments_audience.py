"""A broadcast addressed to a segment: counted at POST, turned into messages rows by the producer.

The audience is never loaded whole. At POST time Herald counts it and fixes its bounds (the
filter as it stands, the highest contact id). Each producer tick that finds the broadcast's
pending rows running low reads the next page of contacts in id order (keyset, `cursor` on
broadcast_audiences), judges each with `broadcast_content.judge`, the function intake judges a
list entry with, and writes the page in one INSERT. A dry run reads the same pages, judged the
same way. E.164 and carrier come from the contact, personalisation from its attributes; a
contact who withdrew consent on the channel, or whose number is on the suppression list, is
`opted_out` unless the row is rejected first.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import text

from app.errors import ValidationFailed
from app.extensions import db
from app.models import Broadcast, BroadcastAudience
from app.services.audience import segments
from app.services.intake import broadcast_content
from app.services.intake.broadcast_content import Candidate, Content, Scan, judge
from app.services.intake.broadcast_request import BroadcastSpec
from app.services.intake.intake import OPTED_OUT_OPTION, Admission
from app.services.channels.recipients import Verdict
from app.services.audience.segments_filter import Compiled, compile_filter
from app.services.state.message_state import OPTED_OUT_CODE
from app.statuses import MessageStatus, sql_literal

AUDIENCE_KEYS = ("segment", "filter", "exclude_received")
# Statuses that mean the person got (or very likely got) the message.
RECEIVED = (MessageStatus.SENT, MessageStatus.UNKNOWN_DELIVERY, MessageStatus.DELIVERED)
# Pages one tick may turn into rows while every row of a page comes out rejected or duplicate.
MAX_PAGES_PER_TICK = 4
# Pages a dry run reads at a time: bounded memory whatever the audience's size.
PREVIEW_PAGE = 5000
_SCOPE = """c.service_id = :sid AND c.id <= :ceiling AND c.phone IS NOT NULL AND {filter}
   AND (CAST(:excl AS uuid) IS NULL OR NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.broadcast_id = CAST(:excl AS uuid) AND m.recipient = c.phone
           AND m.status = ANY(CAST(:received AS text[]))))"""
_CEILING = text("SELECT COALESCE(max(id), 0) FROM contacts WHERE service_id = :sid")
_OWNED = text("SELECT 1 FROM broadcasts WHERE id = :bid AND service_id = :sid")
_OPEN = text("SELECT 1 FROM broadcast_audiences WHERE broadcast_id = :bid AND NOT done")
_LOCK = text("""
SELECT a.service_id, a.filter, a.exclude_broadcast_id, a.id_ceiling, a.cursor, b.body, b.channel, b.options
  FROM broadcast_audiences a JOIN broadcasts b ON b.id = a.broadcast_id
 WHERE a.broadcast_id = :bid AND NOT a.done FOR UPDATE OF a
""")
# The suppression list (STOP, the API) speaks for the number whatever the contact's consent says.
_CONTACTS = f"""
SELECT c.id, c.phone, c.phone_carrier, c.phone_region, c.phone_error,
       CAST(c.attributes || jsonb_strip_nulls(jsonb_build_object('external_id', c.external_id, 'language', c.language))
            AS text) AS p,
       CASE WHEN (c.consent -> CAST(:channel AS text) ->> 'granted') = 'false' THEN 'consent_withdrawn'
            WHEN EXISTS (SELECT 1 FROM opt_outs o WHERE o.service_id = c.service_id
                            AND o.channel = CAST(:channel AS text) AND o.address = c.phone) THEN '{OPTED_OUT_CODE}'
       END AS refusal
  FROM contacts c WHERE c.id > :cursor AND """ + _SCOPE + """
 ORDER BY c.id LIMIT :page
"""
# One statement per page; a number two contacts share is written once (the first by id).
_INSERT = text(f"""
WITH ins AS (
  INSERT INTO messages (broadcast_id, service_id, recipient, personalisation, carrier, region, status, error_code,
                        error_detail)
  SELECT :bid, :sid, r.recipient, CAST(r.p AS jsonb), r.carrier, r.region, r.status, r.code, r.detail
    FROM unnest(CAST(:recipients AS text[]), CAST(:ps AS text[]), CAST(:carriers AS text[]),
                CAST(:regions AS text[]), CAST(:statuses AS text[]), CAST(:codes AS text[]),
                CAST(:details AS text[])) WITH ORDINALITY AS r(recipient, p, carrier, region, status, code, detail, n)
   ORDER BY r.n
  ON CONFLICT (broadcast_id, recipient) DO NOTHING
  RETURNING status)
SELECT count(*) FILTER (WHERE status = {sql_literal(MessageStatus.PENDING)}) AS pending,
       count(*) FILTER (WHERE status = {sql_literal(MessageStatus.REJECTED)}) AS rejected,
       count(*) FILTER (WHERE status = {sql_literal(MessageStatus.OPTED_OUT)}) AS opted_out
  FROM ins
""")
_ADVANCE = text("""
UPDATE broadcast_audiences SET cursor = COALESCE(:last, cursor), done = :done WHERE broadcast_id = :bid
""")
# The counts mean what a list broadcast's do: opted-out rows are neither accepted nor rejected.
_TALLY = text(f"""
UPDATE broadcasts SET accepted_count = accepted_count + :accepted, rejected_count = rejected_count + :rejected,
       duplicate_count = duplicate_count + :duplicates,
       options = CASE WHEN CAST(:opted_out AS int) = 0 THEN options
                      ELSE jsonb_set(options, ARRAY['{OPTED_OUT_OPTION}'],
                                     to_jsonb(COALESCE(CAST(options ->> '{OPTED_OUT_OPTION}' AS int), 0) + :opted_out))
                 END,
       updated_at = now() WHERE id = :bid
""")


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


def _scope_params(service_id: int, compiled: Compiled, ceiling: int, exclude) -> dict:
    """Bind parameters shared by the count and the page statements."""
    return {**compiled.params, "sid": service_id, "ceiling": ceiling, "excl": str(exclude) if exclude else None,
            "received": list(RECEIVED)}


def _contact_page(params: dict, compiled: Compiled) -> list[tuple[int, Candidate]]:
    """(contact id, candidate) for the next page of contacts after params["cursor"], in id order."""
    rows = db.session.execute(text(_CONTACTS.format(filter=compiled.sql)), params).all()
    return [(row.id, Candidate(row.phone, Verdict(row.phone_error is None, row.phone_carrier, row.phone_error,
                                                  None, row.phone_region),
                               json.loads(row.p), row.p, row.refusal)) for row in rows]


@dataclass(frozen=True)
class SegmentAudience:
    """A validated audience: the filter to resolve, where it came from, and whom to leave out."""

    filter: object
    compiled: Compiled
    segment_name: str | None
    exclude_broadcast_id: uuid.UUID | None

    def count(self, service_id: int, ceiling: int) -> int:
        """How many contacts (with a phone) the audience holds right now."""
        sql = "SELECT count(*) FROM contacts c WHERE " + _SCOPE.format(filter=self.compiled.sql)
        return db.session.execute(text(sql), _scope_params(service_id, self.compiled, ceiling,
                                                            self.exclude_broadcast_id)).scalar()

    def admit(self, service_id: int, broadcast_id: uuid.UUID, spec: BroadcastSpec, content: Content) -> Admission:
        """Count the audience and bound it; its rows are judged later, a page per producer tick."""
        ceiling = db.session.execute(_CEILING, {"sid": service_id}).scalar()
        total = self.count(service_id, ceiling)
        details = {"audience": total, "segment": self.segment_name,
                   "exclude_received": str(self.exclude_broadcast_id) if self.exclude_broadcast_id else None}
        # No zones: contacts carry no time zone of their own yet, so a sending window needs an explicit one.
        return Admission(total=total, sendable=total, store=lambda broadcast: self._store_cursor(broadcast, ceiling),
                         details=details)

    def _store_cursor(self, broadcast: Broadcast, ceiling: int) -> None:
        """Add the audience's cursor row to the create transaction."""
        db.session.add(BroadcastAudience(
            broadcast_id=broadcast.id, service_id=broadcast.service_id, filter=self.filter,
            segment_name=self.segment_name, exclude_broadcast_id=self.exclude_broadcast_id, id_ceiling=ceiling,
            done=broadcast.recipient_count == 0))

    def candidates(self, service_id: int, channel: str, scan: Scan) -> Iterator[Candidate]:
        """The audience as it stands, page by page (keyset), each distinct number once, for a dry run."""
        ceiling = db.session.execute(_CEILING, {"sid": service_id}).scalar()
        params = {**_scope_params(service_id, self.compiled, ceiling, self.exclude_broadcast_id),
                  "channel": channel, "page": PREVIEW_PAGE, "cursor": 0}
        seen: set[str] = set()
        for _ in range(ceiling // PREVIEW_PAGE + 2):  # ids are unique and at most the ceiling
            page = _contact_page(params, self.compiled)
            for _contact_id, candidate in page:
                scan.total += 1
                if candidate.address in seen:
                    scan.duplicates += 1
                    continue
                seen.add(candidate.address)
                yield candidate
            if len(page) < PREVIEW_PAGE:
                return
            params["cursor"] = page[-1][0]


def parse_audience(service_id: int, payload: dict) -> SegmentAudience:
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
    return SegmentAudience(spec, compiled, name, _exclusion(service_id, payload.get("exclude_received")))


def is_open(broadcast_id) -> bool:
    """True while some of a broadcast's audience is not yet turned into rows (it must not complete)."""
    return db.session.execute(_OPEN, {"bid": broadcast_id}).first() is not None


_COLUMNS = ("recipients", "ps", "carriers", "regions", "statuses", "codes", "details")


def _judged_columns(page: list[tuple[int, Candidate]], content: Content) -> dict:
    """The INSERT's column arrays: each contact judged as intake judges a list entry."""
    rows = [(c.address, c.stored, c.verdict.carrier, c.verdict.region, *judge(content, c)) for _id, c in page]
    return dict(zip(_COLUMNS, map(list, zip(*rows))))


def _page(broadcast_id, row, page_size: int, max_chars: int) -> tuple[int | None, int, tuple]:
    """Judge and write the next page of contacts: (last contact id, contacts read, (pending, rejected, opted out))."""
    compiled = compile_filter(row.filter)
    content = broadcast_content.for_broadcast(row.body, row.options, row.channel, max_chars)
    params = {**_scope_params(row.service_id, compiled, row.id_ceiling, row.exclude_broadcast_id),
              "cursor": row.cursor, "page": page_size, "channel": row.channel}
    page = _contact_page(params, compiled)
    if not page:
        return None, 0, (0, 0, 0)
    inserted = db.session.execute(_INSERT, {"bid": broadcast_id, "sid": row.service_id,
                                            **_judged_columns(page, content)}).one()
    return page[-1][0], len(page), tuple(inserted)


def extend(broadcast_id, page_size: int, max_chars: int) -> int:
    """Turn the next page(s) of the audience into messages rows; pending rows added (0 if none is open)."""
    added = 0
    for _ in range(MAX_PAGES_PER_TICK):
        row = db.session.execute(_LOCK, {"bid": broadcast_id}).first()
        if row is None:
            db.session.rollback()
            return added
        last, scanned, (pending, rejected, opted_out) = _page(broadcast_id, row, page_size, max_chars)
        db.session.execute(_ADVANCE, {"bid": broadcast_id, "last": last, "done": scanned < page_size})
        db.session.execute(_TALLY, dict(bid=broadcast_id, accepted=pending, rejected=rejected, opted_out=opted_out,
                                        duplicates=scanned - pending - rejected - opted_out))
        db.session.commit()
        added += pending
        if pending or scanned < page_size:
            return added
    return added
