"""POST /v1/messages: the personalised text is held to HERALD_MAX_BODY_CHARS, not only the template."""
from __future__ import annotations

from herald_testing import count_rows, make_service, post_json

from app.extensions import db
from app.services.intake import transactional


def test_a_personalised_message_over_the_limit_is_refused(client, service, app):
    limit = app.config["HERALD_MAX_BODY_CHARS"]
    payload = {"to": "+260961000001", "body": "Dear ((name))", "personalisation": {"name": "x" * limit}}
    response = post_json(client, service, "/v1/messages", payload)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "message_too_long"
    assert error["details"] == {"field": "personalisation", "length": limit + 5, "limit": limit}
    assert count_rows(app) == (0, 0)


def test_a_personalised_message_at_the_limit_is_accepted(client, service, app):
    limit = app.config["HERALD_MAX_BODY_CHARS"]
    payload = {"to": "+260961000001", "body": "Dear ((name))", "personalisation": {"name": "x" * (limit - 5)}}
    assert post_json(client, service, "/v1/messages", payload).status_code == 202
    assert count_rows(app) == (0, 1)


def test_an_unhashable_priority_is_422_not_500(client, service, app):
    for priority in (["asap"], {"a": 1}):
        response = post_json(client, service, "/v1/messages", {"to": "+260961000001", "body": "x", "priority": priority})
        assert response.status_code == 422 and response.json["error"]["details"]["field"] == "priority"
    assert count_rows(app) == (0, 0)


def test_queue_position_counts_only_the_callers_own_service(client, service, app):
    other = make_service(app, "programme-b")
    for i in range(3):
        assert post_json(client, other, "/v1/messages", {"to": f"+26096100000{i}", "body": "Code"}).status_code == 202
    first = post_json(client, service, "/v1/messages", {"to": "+260961000005", "body": "Code"})
    second = post_json(client, service, "/v1/messages", {"to": "+260961000006", "body": "Code"})
    assert (first.json["queue_position"], second.json["queue_position"]) == (0, 1)
    keyed = {"to": "+260961000007", "body": "Code"}
    replay = post_json(client, other, "/v1/messages", keyed, **{"Idempotency-Key": "k"})
    again = post_json(client, other, "/v1/messages", keyed, **{"Idempotency-Key": "k"})
    assert replay.json["queue_position"] == again.json["queue_position"] == 3


def test_queue_position_reads_one_services_index_entries(app, service):
    """With many services' rows queued, the count reads one service's index entries, never the whole table.

    Which of the indexes led by service_id the planner picks depends on the table's size; any will do.
    """
    others = [make_service(app, f"programme-{i}").service_id for i in range(20)]
    with app.app_context():
        db.session.execute(db.text(
            "INSERT INTO messages (service_id, recipient, status, body, provider)"
            " SELECT s, '+26096' || lpad(n::text, 7, '0'), 'pending', 'Code', 'sandbox'"
            " FROM unnest(CAST(:sids AS bigint[])) s, generate_series(1, 200) n"), {"sids": others})
        db.session.commit()
        db.session.execute(db.text("ANALYZE messages"))
        plan = "\n".join(db.session.execute(db.text("EXPLAIN " + str(transactional._POSITION)),
                                            {"sid": others[0], "mid": 10**6}).scalars())
        db.session.rollback()
    assert "Seq Scan" not in plan and "Index Cond: (service_id = " in plan, plan
