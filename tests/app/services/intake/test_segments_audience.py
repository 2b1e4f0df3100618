"""A broadcast to a segment: counted at POST, turned into rows page by page by the producer tick."""
from __future__ import annotations

from contacts_testing import FARMERS, import_rows, scalar
from herald_testing import post_json

from app.services.control import dispatch
from app.services.intake import segments_audience

MAIZE = {"field": "attributes.crop", "eq": "maize"}


def segment_broadcast(client, service, body: str = "Rain tomorrow ((district))", **audience):
    """POST a broadcast addressed to contacts; the response."""
    payload = {"channel": "sms", "body": body, **(audience or {"filter": MAIZE})}
    return post_json(client, service, "/v1/broadcasts", payload)


def resolve_all(app, broadcast_id: str, page: int = 2) -> int:
    """Run the producer's paging to the end (bounded); pages taken."""
    with app.app_context():
        for pages in range(1, 100):
            segments_audience.extend(broadcast_id, page, 1530)
            if not segments_audience.is_open(broadcast_id):
                return pages
    raise AssertionError("audience never finished")


def rows(app, broadcast_id: str) -> dict:
    """recipient -> (status, error_code, personalisation) of a broadcast."""
    from app.extensions import db

    with app.app_context():
        found = db.session.execute(db.text("SELECT recipient, status, error_code, personalisation FROM messages"
                                           " WHERE broadcast_id = :b"), {"b": broadcast_id}).all()
        return {r.recipient: (r.status, r.error_code, r.personalisation) for r in found}


def test_post_counts_the_audience_and_writes_no_rows_yet(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    response = segment_broadcast(client, service)
    assert response.status_code == 202, response.json
    assert response.json["audience"] == 6 and response.json["recipients"] == 6
    assert scalar(app, "SELECT count(*) FROM messages") == 0


def test_pages_create_exactly_the_segments_rows_judged_as_intake_does(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    bid = segment_broadcast(client, service).json["id"]
    assert resolve_all(app, bid, page=2) >= 3
    got = rows(app, bid)
    assert set(got) == {"+260961000001", "+260951000003", "+260761000004", "+260961000006", "+260211234567",
                        "+260961000008"}
    assert got["+260961000001"][:2] == ("pending", None)
    assert got["+260961000001"][2]["district"] == "Chipata" and got["+260961000001"][2]["external_id"] == "f1"
    assert got["+260961000006"][:2] == ("rejected", "missing_personalisation")  # no district for ((district))
    assert got["+260211234567"][:2] == ("rejected", "not_mobile")
    assert got["+260961000008"][:2] == ("opted_out", "consent_withdrawn")
    # Counted as a list broadcast counts: the withdrawn contact is opted out, neither accepted nor rejected.
    counts = scalar(app, "SELECT accepted_count || '/' || rejected_count || '/' || (options ->> 'opted_out')"
                         " FROM broadcasts WHERE id = :b", b=bid)
    assert counts == "3/2/1"
    assert scalar(app, "SELECT carrier FROM messages WHERE recipient = '+260951000003'") == "ZAMTEL"


def test_a_number_on_the_suppression_list_is_left_out_whatever_the_contact_says(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    # The person texted STOP: the contact still says yes, the list speaks for the number.
    assert post_json(client, service, "/v1/opt-outs", {"address": "+260951000003"}).status_code == 201
    bid = segment_broadcast(client, service).json["id"]
    resolve_all(app, bid)
    got = rows(app, bid)
    assert got["+260951000003"][:2] == ("opted_out", "opted_out")
    assert got["+260961000001"][:2] == ("pending", None)
    preview = segment_broadcast(client, service, dry_run=True, filter=MAIZE).json
    assert preview["opted_out"] == 2  # the withdrawn contact and the listed number


def test_the_producer_tick_materialises_and_does_not_complete_early(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    bid = segment_broadcast(client, service, body="Rain tomorrow").json["id"]
    with app.app_context():
        app.config["HERALD_AUDIENCE_PAGE"] = 2
        try:
            plan = dispatch.plan_tick(bid)
        finally:
            app.config["HERALD_AUDIENCE_PAGE"] = 5000
    assert plan.status == "running" and plan.slots
    assert 0 < scalar(app, "SELECT count(*) FROM messages WHERE broadcast_id = :b", b=bid) <= 2
    assert scalar(app, "SELECT NOT done FROM broadcast_audiences WHERE broadcast_id = :b", b=bid)


def test_excluding_those_who_received_a_broadcast_sends_only_to_the_newcomers(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    first = segment_broadcast(client, service, body="Rain tomorrow").json["id"]
    resolve_all(app, first)
    with app.app_context():
        from app.extensions import db

        db.session.execute(db.text("UPDATE messages SET status = 'delivered' WHERE broadcast_id = :b"
                                   " AND status = 'pending'"), {"b": first})
        db.session.commit()
    import_rows(app, service.service_id, ["f30,+260961000030,,en,yes,Chipata,maize,2",
                                          "f31,+260971000031,,en,yes,Lundazi,maize,3"])
    second = segment_broadcast(client, service, body="Rain tomorrow", filter=MAIZE, exclude_received=first)
    assert second.json["audience"] == 4  # 2 newcomers, and the landline and the opted-out one never received it
    resolve_all(app, second.json["id"])
    pending = {r for r, (status, _, _) in rows(app, second.json["id"]).items() if status == "pending"}
    assert pending == {"+260961000030", "+260971000031"}


def test_a_saved_segment_is_addressed_by_name_and_a_missing_one_is_422(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    assert post_json(client, service, "/v1/segments", {"name": "maize", "filter": MAIZE}).status_code == 201
    ok = segment_broadcast(client, service, body="Rain", segment="maize")
    assert ok.status_code == 202 and ok.json["audience"] == 6
    missing = segment_broadcast(client, service, body="Rain", segment="sorghum")
    assert missing.status_code == 422 and missing.json["error"]["details"]["field"] == "segment"
    both = segment_broadcast(client, service, body="Rain", segment="maize", recipients=[{"to": "+260961000001"}])
    assert both.status_code == 422
    bad = segment_broadcast(client, service, body="Rain", filter=MAIZE, exclude_received="not-a-broadcast")
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "exclude_received"
    assert scalar(app, "SELECT count(*) FROM broadcasts") == 1


def test_a_dry_run_over_a_segment_judges_every_contact_as_the_producer_would_and_writes_nothing(app, client, service):
    import_rows(app, service.service_id, FARMERS)
    response = segment_broadcast(client, service, dry_run=True, filter=MAIZE)
    assert response.status_code == 200, response.json
    body = response.json
    # The same six contacts the producer turns into rows: three to send, two rejected, one withdrawn.
    assert (body["recipients"], body["audience"], body["rejected"], body["opted_out"]) == (6, 3, 2, 1)
    assert body["rejected_by_reason"] == {"missing_personalisation": 1, "not_mobile": 1}
    assert {s["to"] for s in body["sample"]} == {"+260961000001", "+260951000003", "+260761000004"}
    assert body["sample"][0]["body"] == "Rain tomorrow Chipata"
    assert scalar(app, "SELECT count(*) FROM broadcasts") == 0
    assert scalar(app, "SELECT count(*) FROM messages") == 0
