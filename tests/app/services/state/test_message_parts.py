"""Messages sent in parts (SMPP): every part's receipt is known, and the message settles on the worst part,
only once every part has one; receipts that beat the `sent` write, two appliers at once, and erasure."""
from __future__ import annotations

import threading

from contacts_testing import import_rows, scalar
from herald_testing import recipients
from lifecycle_testing import post_broadcast
from sqlalchemy import text

from app.extensions import db
from app.services.control import contacts_erasure
from app.services.reports import delivery_reports
from app.services.state import claims, message_parts, message_reports, outcomes
from providers.base import DeliveryReport

PROVIDER = "africastalking"  # the test broadcasts' account
NUMBER = recipients(1)[0]["to"]
DIGITS = NUMBER.lstrip("+")


def _claim(app, client, service, count: int) -> tuple[object, list[int]]:
    """A broadcast of `count`, claimed whole as a worker would."""
    bid = post_broadcast(client, service, count)
    with app.app_context():
        claim = claims.claim_batch(bid, count, 60)
        return claim.token, sorted(row.id for row in claim.rows)


def _sent(app, token, ids: list[int], parts: dict[int, tuple[str, ...]]) -> None:
    """Record the claim as taken: each message under its first part's id, `parts` as the SMSC gave them."""
    with app.app_context():
        sent = [(mid, parts.get(mid, (f"single-{mid}",))[0], None, None, len(parts.get(mid, "x"))) for mid in ids]
        outcomes.record_outcome(outcomes.BatchOutcome(token, sent=sent, parts=list(parts.items())))


def _store(app, *reports: tuple[str, str, str | None]) -> None:
    """Store (gateway id, status, reason) receipts as the SMPP receipt sink would."""
    with app.app_context():
        delivery_reports.store_reports(PROVIDER, [
            DeliveryReport(provider_message_id=pid, status=status, provider_status=(status or "ENROUTE").upper(),
                           failure_reason=reason, raw={"source_addr": DIGITS, "receipted_message_id": pid})
            for pid, status, reason in reports])


def _apply(app) -> delivery_reports.ReportPass:
    with app.app_context():
        return delivery_reports.apply_pending_reports(1000)


def _status(app, mid: int) -> tuple[str, str | None]:
    return tuple(db_row(app, "SELECT status, error_code FROM messages WHERE id = :i", i=mid))


def db_row(app, sql: str, **params):
    with app.app_context():
        return db.session.execute(text(sql), params).one()


def test_a_message_settles_on_its_worst_part_once_every_part_has_a_receipt(app, client, service):
    token, (long, pair, single) = _claim(app, client, service, 3)
    _sent(app, token, [long, pair, single], {long: ("L1", "L2", "L3"), pair: ("P1", "P2")})

    # The first part's receipt alone settles nothing: its id is the message's, but two parts are missing.
    _store(app, ("L1", "delivered", None), ("L2", "delivered", None), ("P1", "delivered", None),
           (f"single-{single}", "delivered", None))
    assert _apply(app).closed == 4
    assert [_status(app, m)[0] for m in (long, pair, single)] == ["sent", "sent", "delivered"]

    # A later duplicate of a part keeps its first final status; the last part settles at the worst.
    _store(app, ("L3", "unreachable", "absent_subscriber"), ("P2", "failed", "rejected"), ("L2", "failed", "late"))
    _apply(app)
    assert _status(app, long) == ("unreachable", "absent_subscriber")
    assert _status(app, pair) == ("failed", "rejected")
    closed = db_row(app, "SELECT count(*) FILTER (WHERE outcome = 'unmatched'), "
                           "count(*) FILTER (WHERE applied_at IS NULL) FROM delivery_events")
    assert tuple(closed) == (0, 0)


def test_receipts_that_beat_the_sent_write_settle_the_message_with_it(app, client, service):
    token, (mid,) = _claim(app, client, service, 1)
    # The SMSC's receipts come over the bind before the worker commits `sent`: unknown for now.
    _store(app, ("E1", "delivered", None), ("E2", "delivered", None))
    assert _apply(app).closed == 0
    _sent(app, token, [mid], {mid: ("E1", "E2")})
    assert _status(app, mid)[0] == "delivered"


def test_two_appliers_holding_two_parts_of_one_message_settle_it(app, client, service):
    token, (mid,) = _claim(app, client, service, 1)
    _sent(app, token, [mid], {mid: ("T1", "T2")})
    first_marked, first_may_commit = threading.Event(), threading.Event()
    settled: list[int] = []

    def applier(pid: str, hold: bool) -> None:
        """One applier's transaction: mark one part, try to settle, commit (the first waits to be told)."""
        with app.app_context():
            message_parts.mark_reports([mid], [PROVIDER], [pid], ["delivered"], [None])
            settled.append(message_reports.settle_split([mid]))
            if hold:
                first_marked.set()
                first_may_commit.wait(10)
            db.session.commit()

    first = threading.Thread(target=applier, args=("T1", True))
    first.start()
    assert first_marked.wait(10)
    second = threading.Thread(target=applier, args=("T2", False))
    second.start()
    # The second waits for the message's lock while the first holds it, uncommitted, with its part
    # marked; without that lock each would settle nothing, seeing the other's part still missing.
    second.join(0.5)
    assert second.is_alive()
    first_may_commit.set()
    first.join(10)
    second.join(10)
    assert settled == [0, 1]
    assert _status(app, mid)[0] == "delivered"


def test_erasure_scrubs_the_number_from_every_parts_receipt(app, client, service):
    import_rows(app, service.service_id, [f"p1,{NUMBER},,en,yes,Chipata,maize,2"])
    token, (mid,) = _claim(app, client, service, 1)
    _sent(app, token, [mid], {mid: ("X1", "X2", "X3")})
    _store(app, ("X1", "delivered", None), ("X2", "delivered", None))
    with app.app_context():
        receipt = contacts_erasure.erase(service.service_id, "p1")
    assert receipt["reports_scrubbed"] == 2
    _store(app, ("X3", "delivered", None))  # after the erasure: stored without the number
    _apply(app)
    assert _status(app, mid)[0] == "delivered"
    assert scalar(app, "SELECT count(*) FROM delivery_events WHERE payload::text LIKE :d", d=f"%{DIGITS}%") == 0


def test_a_resent_message_replaces_its_parts(app, client, service):
    token, (mid,) = _claim(app, client, service, 1)
    _sent(app, token, [mid], {mid: ("R1", "R2")})
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'processing', claim_token = :t WHERE id = :i"),
                           {"t": str(token), "i": mid})
        db.session.commit()
    _sent(app, token, [mid], {mid: ("S1", "S2")})
    assert scalar(app, "SELECT string_agg(provider_message_id, ',' ORDER BY part) FROM message_parts") == "S1,S2"
