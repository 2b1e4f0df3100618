"""Erasure against real rows: every gateway's stored reports, late reports, in-flight rows, and the receipt."""
from __future__ import annotations

import time
from decimal import Decimal

from contacts_testing import import_rows, scalar
from herald_testing import recipients
from lifecycle_testing import post_broadcast
from sqlalchemy import text

from app.extensions import db
from app.services.audience import optouts
from app.services.control import contacts_erasure
from app.services.reports import delivery_reports, inbound
from app.services.sending import lease_reaper
from app.services.state import claims, message_state, outcomes
from app.services.sending.retry_policy import Policy
from providers.base import DeliveryReport

NUMBER = recipients(1)[0]["to"]          # +260961000000, the person erased
OTHER = recipients(2)[1]["to"]           # someone else, whose data must stay
DIGITS = NUMBER.lstrip("+")
PERSON = [f"p1,{NUMBER},Ada.Banda@Example.org,en,yes,Chipata,maize,2", f"p2,{OTHER},,en,yes,Chipata,maize,2"]
# What each gateway really posts (or an SMSC sends in its deliver_sm) for a message to `to`.
REPORTS = {
    "africastalking": lambda pid, to: {"id": pid, "status": "Success", "phoneNumber": to, "networkCode": "64502",
                                       "retryCount": "0"},
    "infobip": lambda pid, to: {"bulkId": "bulk-1", "messageId": pid, "to": to.lstrip("+"), "from": "HERALD",
                                "sentAt": "2026-03-01T10:00:00.000+0000", "doneAt": "2026-03-01T10:00:02.000+0000",
                                "smsCount": 1, "price": {"pricePerMessage": 0.01, "currency": "EUR"},
                                "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
                                "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR"},
                                "callbackData": f"farmer whatsapp:{to}",
                                "entityData": {"recipients": [{"msisdn": to.lstrip("+")}]}},
    "twilio": lambda pid, to: {"MessageSid": pid, "SmsSid": pid, "MessageStatus": "delivered", "SmsStatus": "delivered",
                               "To": to, "From": "+15005550006", "AccountSid": "AC0000", "ApiVersion": "2010-04-01"},
    "smpp": lambda pid, to: {"source_addr": to.lstrip("+"), "destination_addr": "HERALD", "esm_class": "4",
                             "short_message": f"id:{pid} sub:001 dlvrd:001 submit date:2603011000 "
                                              "done date:2603011001 stat:DELIVRD err:000 text:Rains from",
                             "receipted_message_id": pid, "message_state": "DELIVERED"},
}
POLICY = Policy(max_attempts=5, base_seconds=0.1, max_seconds=1.0)


def _report(provider: str, pid: str, to: str) -> DeliveryReport:
    """A parsed report carrying the gateway's own fields."""
    return DeliveryReport(provider_message_id=pid, status="delivered", provider_status="DELIVERED",
                          raw=REPORTS[provider](pid, to))


def _dump(app, table: str, without: str = "") -> str:
    """A whole table as text (optionally without one column), to look for the number in."""
    return scalar(app, f"SELECT coalesce(string_agg((to_jsonb(t) - '{without}')::text, E'\\n'), '') FROM {table} t")


def _send_everything(app, client, service) -> tuple[str, dict[str, int]]:
    """Four broadcasts to both people, each sent and reported through one gateway; the person's row ids."""
    import_rows(app, service.service_id, PERSON)
    rows = {}
    for provider in REPORTS:
        bid = post_broadcast(client, service, 2)
        with app.app_context():
            db.session.execute(text("UPDATE messages SET status = 'sent', sent_at = now(), error_detail = "
                                    "'gateway said: ' || recipient || ' is slow', provider_message_id = "
                                    ":p || '-' || id WHERE broadcast_id = :b"), {"p": provider, "b": bid})
            sent = db.session.execute(text("SELECT recipient, provider_message_id, id FROM messages "
                                           "WHERE broadcast_id = :b"), {"b": bid}).all()
            db.session.commit()
            delivery_reports.store_reports(provider, [_report(provider, pid, to) for to, pid, _ in sent])
            rows[provider] = next(mid for to, _, mid in sent if to == NUMBER)
    return bid, rows


def test_every_table_loses_the_number_and_the_suppression_list_keeps_a_pseudonym(app, client, service):
    last_broadcast, rows = _send_everything(app, client, service)
    with app.app_context():
        # The person also said STOP by SMS, and one of their messages was dead-lettered.
        inbound.apply_keyword(service.service_id, "sms", NUMBER, "opt_out", account="africastalking",
                              inbound_id="in-1", sent_at=None, detail=f"STOP sms to {NUMBER} please")
        db.session.execute(text("INSERT INTO dead_letters (message_id, broadcast_id, service_id, reason, error_detail)"
                                " VALUES (:m, :b, :s, 'permanent_error', :d)"),
                           {"m": rows["smpp"], "b": last_broadcast, "s": service.service_id,
                            "d": f"invalid destination {DIGITS}"})
        db.session.commit()
        receipt = contacts_erasure.erase(service.service_id, "p1", actor="dpo@ministry")
    tables = scalar(app, "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'").split(",")
    assert {"opt_outs", "opt_out_events", "inbound_messages", "messages"} <= set(tables)
    for table in tables:
        assert DIGITS not in _dump(app, table), table
    # The person stays suppressed: under a pseudonym, found by every lookup of the number.
    with app.app_context():
        assert optouts.is_suppressed(service.service_id, "sms", NUMBER)
        assert optouts.suppressed_among(service.service_id, "sms", [NUMBER, OTHER]) == {NUMBER}
        assert NUMBER in optouts.suppressed(service.service_id, "sms")
        assert scalar(app, "SELECT address FROM opt_outs") == optouts.pseudonym("sms", NUMBER)
    assert "ada.banda" not in _dump(app, "audit_log").lower()
    # The other person's reports and messages keep their number; counts and statuses survive.
    assert scalar(app, "SELECT count(*) FROM delivery_events WHERE payload::text LIKE :n", n=f"%{OTHER[4:]}%") == 4
    assert scalar(app, "SELECT count(*) FROM messages WHERE recipient LIKE 'erased:%' AND status = 'sent'") == 4
    assert scalar(app, "SELECT payload->>'status' FROM delivery_events WHERE provider_message_id = :p",
                  p=f"africastalking-{rows['africastalking']}") == "Success"
    assert scalar(app, "SELECT payload->'status'->>'name' FROM delivery_events WHERE provider_message_id = :p",
                  p=f"infobip-{rows['infobip']}") == "DELIVERED_TO_HANDSET"
    assert {k: receipt[k] for k in ("messages_tombstoned", "messages_cancelled", "reports_scrubbed",
                                    "dead_letters_closed", "suppressions_pseudonymised", "opt_out_events_pseudonymised",
                                    "inbound_keywords_pseudonymised")} == {
        "messages_tombstoned": 4, "messages_cancelled": 0, "reports_scrubbed": 4, "dead_letters_closed": 1,
        "suppressions_pseudonymised": 1, "opt_out_events_pseudonymised": 1, "inbound_keywords_pseudonymised": 1}
    audit = scalar(app, "SELECT details FROM audit_log WHERE action = 'erase_contact' AND actor = 'dpo@ministry'")
    assert audit["reports_scrubbed"] == 4 and audit["external_id"] == "p1"


def test_a_report_arriving_after_the_erasure_stores_no_number(app, client, service):
    import_rows(app, service.service_id, PERSON)
    bid = post_broadcast(client, service, 2)
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'sent', sent_at = now(), "
                                "provider_message_id = 'late-' || id WHERE broadcast_id = :b"), {"b": bid})
        db.session.commit()
        contacts_erasure.erase(service.service_id, "p1")
        sent = db.session.execute(text("SELECT recipient, provider_message_id FROM messages")).all()
        db.session.rollback()
        pid = next(p for r, p in sent if r.startswith("erased:"))
        other = next(p for r, p in sent if r == OTHER)
        for provider in REPORTS:
            delivery_reports.store_reports(provider, [_report(provider, pid, NUMBER), _report(provider, other, OTHER)])
        assert DIGITS not in _dump(app, "delivery_events")  # as stored, before the applier looks
        assert delivery_reports.apply_pending_reports(100).moved == 2
    assert DIGITS not in _dump(app, "delivery_events")
    assert scalar(app, "SELECT count(*) FROM delivery_events WHERE payload::text LIKE :n", n=f"%{OTHER[4:]}%") == 4
    assert scalar(app, "SELECT status FROM messages WHERE provider_message_id = :p", p=pid) == "delivered"


def test_a_report_that_raced_the_send_of_an_erased_row_loses_the_number_when_applied(app, client, service):
    import_rows(app, service.service_id, PERSON)
    bid = post_broadcast(client, service, 1)
    with app.app_context():
        claim = claims.claim_batch(bid, 10, 60)
        contacts_erasure.erase(service.service_id, "p1")
        # The gateway took the call before the erasure; its report comes before the worker writes "sent".
        delivery_reports.store_reports("africastalking", [_report("africastalking", "AT-race", NUMBER)])
        outcomes.record_outcome(outcomes.BatchOutcome(
            claim.token, sent=[(claim.rows[0].id, "AT-race", Decimal("0.5"), "ZMW", 1)]))
        delivery_reports.apply_pending_reports(100)
    assert DIGITS not in _dump(app, "delivery_events")
    assert scalar(app, "SELECT status FROM messages WHERE provider_message_id = 'AT-race'") == "delivered"


def test_processing_rows_erased_end_cancelled_whichever_way_they_go_back(app, client, service):
    import_rows(app, service.service_id, [f"p{n},{r['to']},,en,yes,,," for n, r in enumerate(recipients(4))])
    bid = post_broadcast(client, service, 4)
    with app.app_context():
        claim = claims.claim_batch(bid, 3, lease_seconds=0.2)
        released, retried, deferred = sorted(row.id for row in claim.rows)
        for n in range(4):
            contacts_erasure.erase(service.service_id, f"p{n}")
        statuses = dict(db.session.execute(text("SELECT id, status FROM messages")).all())
        db.session.rollback()
        assert statuses[released] == "processing" and list(statuses.values()).count("cancelled") == 1
        outcomes.record_outcome(outcomes.BatchOutcome(
            claim.token, released=[released], retry=[(retried, 0.0, "InternalServerError", "busy")],
            deferred=[(deferred, 0.0)]))
    assert scalar(app, "SELECT count(*) FROM messages WHERE status = 'cancelled' AND error_code = 'contact_erased'"
                       " AND finished_at IS NOT NULL") == 4
    with app.app_context():
        assert claims.claim_batch(bid, 10, 60).rows == []


def test_a_lease_released_by_the_reaper_after_erasure_is_cancelled(app, client, service):
    import_rows(app, service.service_id, PERSON)
    bid = post_broadcast(client, service, 2)
    with app.app_context():
        claim = claims.claim_batch(bid, 2, lease_seconds=0.2)
        contacts_erasure.erase(service.service_id, "p1")
        time.sleep(0.3)
        sweep = lease_reaper.release_expired_leases(set(), POLICY, lease_seconds=0.2)
    assert sweep.released == 2 and len(claim.rows) == 2
    assert scalar(app, "SELECT string_agg(status || '/' || coalesce(error_code, ''), ',' ORDER BY recipient)"
                       " FROM messages") == "pending/,cancelled/contact_erased"


def test_a_tombstoned_row_found_pending_is_closed_by_its_claim_never_handed_out(app, client, service):
    bid = post_broadcast(client, service, 2)
    with app.app_context():
        # As if a write had raced the erasure: a tombstoned row back in the queue.
        db.session.execute(text("UPDATE messages SET recipient = 'erased:' || id WHERE recipient = :r"), {"r": NUMBER})
        db.session.commit()
        claim = claims.claim_batch(bid, 10, 60)
    assert [row.recipient for row in claim.rows] == [OTHER]
    assert scalar(app, "SELECT status || '/' || error_code || '/' || attempts FROM messages"
                       " WHERE recipient LIKE 'erased:%'") == "cancelled/contact_erased/0"


def test_a_dead_letter_of_an_erased_person_is_cancelled_when_requeued(app, client, service):
    import_rows(app, service.service_id, PERSON)
    bid = post_broadcast(client, service, 1)
    with app.app_context():
        claim = claims.claim_batch(bid, 10, 60)
        contacts_erasure.erase(service.service_id, "p1")
        # The call in flight at the erasure failed for good afterwards: its dead letter opens now.
        outcomes.record_outcome(outcomes.BatchOutcome(
            claim.token, dead=[(claim.rows[0].id, "permanent_error", "InvalidPhoneNumber", "bad")]))
        moved = message_state.requeue_failed_many([claim.rows[0].id])
        db.session.commit()
    assert moved == [claim.rows[0].id]
    assert scalar(app, "SELECT status || '/' || error_code FROM messages") == "cancelled/contact_erased"


def test_an_erased_person_who_said_stop_stays_suppressed_when_the_number_comes_back(app, client, service):
    import_rows(app, service.service_id, PERSON)
    assert client.post("/v1/opt-outs", headers=service.headers, json={"address": NUMBER}).status_code == 201
    with app.app_context():
        contacts_erasure.erase(service.service_id, "p1")
    assert DIGITS not in _dump(app, "opt_outs") + _dump(app, "opt_out_events")
    # The number comes back in a list upload, a transactional POST and a re-imported contact.
    listed = client.post("/v1/broadcasts", headers=service.headers,
                         json={"channel": "sms", "body": "Rain", "recipients": [{"to": NUMBER}, {"to": OTHER}]})
    assert listed.json["accepted"] == 1
    refused = client.post("/v1/messages", headers=service.headers, json={"to": NUMBER, "body": "Code"})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "recipient_opted_out"
    history = client.get("/v1/opt-outs", query_string={"address": NUMBER}, headers=service.headers).json["history"]
    assert [h["action"] for h in history] == ["opt_out"]
    # Texting START again lifts the pseudonymised suppression.
    assert client.delete("/v1/opt-outs", json={"address": NUMBER}, headers=service.headers).status_code == 200
    assert client.post("/v1/messages", headers=service.headers, json={"to": NUMBER, "body": "Code"}).status_code == 202


def test_a_claimed_row_to_a_pseudonymised_number_is_closed_before_any_call(app, client, service):
    import_rows(app, service.service_id, PERSON)
    client.post("/v1/opt-outs", headers=service.headers, json={"address": NUMBER})
    with app.app_context():
        contacts_erasure.erase(service.service_id, "p1")
    # A segment page looks the number up as stored, so a re-imported contact's row is written pending.
    bid = post_broadcast(client, service, 2)
    with app.app_context():
        db.session.execute(text("UPDATE messages SET status = 'pending', error_code = NULL WHERE recipient = :n"),
                           {"n": NUMBER})
        db.session.commit()
        claim = claims.claim_batch(bid, 10, 60)
        kept = optouts.drop_suppressed(claim, service.service_id, "sms")
        statuses = dict(db.session.execute(text("SELECT recipient, status FROM messages WHERE broadcast_id = :b"),
                                           {"b": bid}).all())
    assert [row.recipient for row in kept] == [OTHER]
    assert statuses[NUMBER] == "opted_out"


def test_a_transactional_text_that_quotes_the_number_loses_it(app, client, service):
    import_rows(app, service.service_id, PERSON)
    sent = client.post("/v1/messages", headers=service.headers,
                       json={"to": NUMBER, "body": f"Your line {NUMBER} is registered"})
    kept = client.post("/v1/messages", headers=service.headers, json={"to": NUMBER, "body": "Rains on Monday"})
    assert sent.status_code == kept.status_code == 202
    with app.app_context():
        contacts_erasure.erase(service.service_id, "p1")
    assert DIGITS not in _dump(app, "messages")
    assert scalar(app, "SELECT body FROM messages WHERE id = :i", i=sent.json["id"]) is None
    assert scalar(app, "SELECT body FROM messages WHERE id = :i", i=kept.json["id"]) == "Rains on Monday"
