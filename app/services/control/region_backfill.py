"""Regions for the rows stored before they were kept, and a warning while any are left.

Routes match a message by the recipient's ISO region (`messages.region`, copied from
`contacts.phone_region` for audiences). Rows stored before 0014 have none: a claim matches them by
calling code instead, and a calling code several regions share (+1 is US and CA) names none of
them (routes.Route.prefix), so such a row takes only the catch-all route until it has a region.

The backfill gives each such row the region phonenumbers finds for its number (UNKNOWN_REGION,
which no route names, where it finds none). It reads only the rows still missing one, through
partial indexes new rows never enter, in keyset batches of a bounded size, each its own short
transaction; a row another transaction holds (a claim, a worker's outcome) is skipped, never
waited for, and left for the next pass. It only ever sets a region that is NULL, to the region of
the number still on the row (an erasure replaces it), so running it again, or while sending, or
after an interruption changes nothing it has done and resumes where it stopped.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models.contact import PHONE_REGION_MISSING
from app.models.message import REGION_MISSING, UNKNOWN_REGION
from app.services.channels.recipients import region_of

log = logging.getLogger(__name__)

BATCH_SIZE_MAX = 10_000
# Passes over what is left, for rows that were busy (held by a claim) on the pass before.
MAX_PASSES = 3
# The startup check counts at most this many rows per table, and gives up after this long.
_COUNT_CAP = 1_000_000
_CHECK_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class _Table:
    """One table's rows missing a region: how to page through them and how to fill them."""

    name: str
    page: object
    fill: object
    count: object
    index: str


def _table(name: str, number: str, region: str, missing: str, index: str) -> _Table:
    """The statements for one table, whose `number` column's region goes into its `region` column."""
    return _Table(name, text(f"SELECT id, {number} AS number FROM {name} WHERE {missing} AND id > :after "
                             "ORDER BY id LIMIT :limit"),
                  text(f"""
WITH v AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS text[]), CAST(:regions AS text[]))
             AS v(id, number, region)),
     free AS (SELECT id FROM {name} WHERE id = ANY(CAST(:ids AS bigint[])) AND {region} IS NULL
               FOR UPDATE SKIP LOCKED)
UPDATE {name} t SET {region} = v.region FROM v, free
 WHERE t.id = v.id AND t.id = free.id AND t.{number} = v.number AND t.{region} IS NULL
"""), text(f"SELECT count(*) FROM (SELECT 1 FROM {name} WHERE {missing} LIMIT :cap) AS left_over"), index)


_MESSAGES = _table("messages", "recipient", "region", REGION_MISSING, "ix_messages_region_missing")
_CONTACTS = _table("contacts", "phone", "phone_region", PHONE_REGION_MISSING, "ix_contacts_phone_region_missing")
TABLES = (_MESSAGES, _CONTACTS)


@dataclass
class Progress:
    """What a backfill did per table: rows read, rows given a region, of them unplaceable; whether time ran out."""

    read: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in TABLES})
    filled: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in TABLES})
    unplaceable: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in TABLES})
    timed_out: bool = False


def backfill(batch_size: int, max_seconds: float, on_batch: Callable[[Progress], None] | None = None) -> Progress:
    """Give every message and contact missing a region its region, batch by batch; what was done.

    Stops when nothing is left, after MAX_PASSES passes, or after `max_seconds` (timed_out). A
    ValueError names a batch size or time outside its bounds, a LookupError the indexes of 0015.
    """
    if not 1 <= batch_size <= BATCH_SIZE_MAX:
        raise ValueError(f"batch size must be between 1 and {BATCH_SIZE_MAX}, not {batch_size}")
    if not max_seconds > 0:
        raise ValueError(f"max seconds must be more than 0, not {max_seconds}")
    _require_indexes()
    deadline = time.monotonic() + max_seconds
    progress = Progress()
    for _pass in range(MAX_PASSES):
        busy = sum(_pass_over(table, batch_size, deadline, progress, on_batch) for table in TABLES)
        if progress.timed_out or not busy:
            break
    return progress


def _pass_over(table: _Table, batch_size: int, deadline: float, progress: Progress, on_batch) -> int:
    """One keyset pass over a table's rows missing a region; how many were busy and skipped."""
    after, busy = 0, 0
    while True:
        if time.monotonic() >= deadline:
            progress.timed_out = True
            return busy
        page = db.session.execute(table.page, {"after": after, "limit": batch_size}).all()
        if not page:
            db.session.rollback()
            return busy
        regions = [region_of(row.number) or UNKNOWN_REGION for row in page]
        filled = db.session.execute(table.fill, {"ids": [row.id for row in page], "numbers": [row.number for row in page],
                                                 "regions": regions}).rowcount
        db.session.commit()
        progress.read[table.name] += len(page)
        progress.filled[table.name] += filled
        progress.unplaceable[table.name] += regions.count(UNKNOWN_REGION)
        busy += len(page) - filled
        after = page[-1].id
        if on_batch is not None:
            on_batch(progress)


def _require_indexes() -> None:
    """LookupError naming the partial indexes this database lacks (older than 0015); the caller ends the transaction."""
    absent = [t.index for t in TABLES if db.session.execute(text("SELECT to_regclass(:name)"),
                                                            {"name": t.index}).scalar() is None]
    if absent:
        db.session.rollback()
        raise LookupError(f"index {', '.join(absent)} missing: run the migrations (flask db upgrade)")


def missing(cap: int = _COUNT_CAP) -> dict[str, int]:
    """Rows per table still missing a region (counted up to `cap`), read through the partial indexes.

    Raises LookupError when an index is absent (the database is older than 0015): counting
    without it would read the whole table.
    """
    db.session.execute(text(f"SET LOCAL statement_timeout = {_CHECK_TIMEOUT_MS}"))
    _require_indexes()
    counts = {t.name: db.session.execute(t.count, {"cap": cap}).scalar() for t in TABLES}
    db.session.rollback()
    return counts


def warn_if_missing() -> None:
    """Log a clear warning at startup while rows lack a region; errors are logged, never raised."""
    try:
        counts = missing()
    except (LookupError, SQLAlchemyError) as exc:
        db.session.rollback()
        log.warning("could not count the rows without a region: %s", exc)
        return
    if any(counts.values()):
        log.warning("%d message(s) and %d contact(s) were stored before regions were kept: a route for a "
                    "region whose calling code others share (CA, US, GB...) does not take them, the catch-all "
                    "does. Run `flask herald backfill-regions` (batched, resumable, safe while sending).",
                    counts["messages"], counts["contacts"])
