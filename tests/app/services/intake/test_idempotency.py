"""Idempotency-Key on POST /v1/messages and POST /v1/broadcasts: the same key and body replay the first
answer; the same key with another body is 422 idempotency_key_reused naming the key, and writes nothing;
two identical requests at once answer the same resource and write it once."""
from __future__ import annotations

import pytest
from herald_testing import count_rows, post_json, recipients, sms

MESSAGE = {"to": "+260961000001", "body": "Your code is ((code))", "personalisation": {"code": "1234"}}
CASES = {
    "/v1/messages": (MESSAGE, {**MESSAGE, "personalisation": {"code": "9999"}}, (0, 1)),
    "/v1/broadcasts": (sms(recipients(3)), sms(recipients(4)), (1, 3)),
}


@pytest.mark.parametrize("path", sorted(CASES))
def test_same_key_same_body_replays_the_first_answer(client, service, app, path):
    payload, _, rows = CASES[path]
    first = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    again = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    assert first.status_code == again.status_code == 202
    assert first.json["id"] == again.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_rows(app) == rows


@pytest.mark.parametrize("path", sorted(CASES))
def test_same_key_with_a_different_body_is_refused_naming_the_key(client, service, app, path):
    payload, other, rows = CASES[path]
    first = post_json(client, service, path, payload, **{"Idempotency-Key": "otp-42"})
    refused = post_json(client, service, path, other, **{"Idempotency-Key": "otp-42"})
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"]["field"] == "Idempotency-Key" and error["details"]["key"] == "otp-42"
    assert "otp-42" in error["message"]
    assert first.json["id"] in error["details"].values()
    assert count_rows(app) == rows


def test_a_message_body_in_another_key_order_or_spacing_is_the_same_request(client, service):
    first = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": "k"})
    reordered = '{"personalisation": {"code": "1234"},  "body": "Your code is ((code))", "to": "+260961000001"}'
    again = post_json(client, service, "/v1/messages", reordered, **{"Idempotency-Key": "k"})
    assert again.status_code == 202 and again.json["id"] == first.json["id"]


def test_keys_belong_to_one_service(client, service, app):
    from herald_testing import make_service

    other = make_service(app, "programme-b")
    first = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": "k"})
    theirs = post_json(client, other, "/v1/messages", {**MESSAGE, "body": "Other"}, **{"Idempotency-Key": "k"})
    assert theirs.status_code == 202 and theirs.json["id"] != first.json["id"]


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "tab\there"])
def test_a_malformed_key_is_422(client, service, app, key):
    response = post_json(client, service, "/v1/messages", MESSAGE, **{"Idempotency-Key": key})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "Idempotency-Key"
    assert count_rows(app) == (0, 0)


def _csv_upload(client, service, key: str):
    """A multipart CSV broadcast with an Idempotency-Key."""
    import io

    return client.post("/v1/broadcasts", content_type="multipart/form-data", headers={
        **service.headers, "Idempotency-Key": key}, data={
        "channel": "sms", "body": "Rain", "file": (io.BytesIO(b"to\n+260961000001\n+260971000002\n"), "list.csv")})


def _import_contacts(app, service) -> None:
    """Contacts for the audience broadcasts to address."""
    from contacts_testing import FARMERS, import_rows

    import_rows(app, service.service_id, FARMERS)


def _import_contacts_and_save_segment(app, service) -> None:
    """Contacts, and a saved segment named english."""
    _import_contacts(app, service)
    answer = post_json(app.test_client(), service, "/v1/segments", {"name": "english",
                                                                    "filter": {"field": "language", "eq": "en"}})
    assert answer.status_code == 201


# Every create that takes an Idempotency-Key: how to send it, a table it reads after looking for a replay and
# before inserting (held locked so both racers get past the replay check), and the table its row lands in.
RACES = {
    "messages": (lambda c, s, k: post_json(c, s, "/v1/messages", MESSAGE, **{"Idempotency-Key": k}),
                 "messages", "messages", None),
    "broadcast json": (lambda c, s, k: post_json(c, s, "/v1/broadcasts", sms(recipients(3)), **{"Idempotency-Key": k}),
                       "opt_outs", "broadcasts", None),
    "broadcast csv": (_csv_upload, "opt_outs", "broadcasts", None),
    "broadcast filter": (lambda c, s, k: post_json(c, s, "/v1/broadcasts", {
        "channel": "sms", "body": "Rain", "filter": {"field": "language", "eq": "en"}}, **{"Idempotency-Key": k}),
        "contacts", "broadcasts", _import_contacts),
    "broadcast segment": (lambda c, s, k: post_json(c, s, "/v1/broadcasts", {
        "channel": "sms", "body": "Rain", "segment": "english"}, **{"Idempotency-Key": k}),
        "contacts", "broadcasts", _import_contacts_and_save_segment),
}


def _race(app, table: str, send) -> list:
    """Two requests at once, both held at `table` (locked here) until both wait there; their answers."""
    import threading
    import time

    from sqlalchemy import text

    from app.extensions import db

    answers: list = [None, None]

    def run(i: int) -> None:
        try:
            answers[i] = send(app.test_client())
        except Exception as exc:  # noqa: BLE001 - a 500 in TESTING mode raises; report it as the answer
            answers[i] = exc

    with app.app_context(), db.engine.connect() as holder:
        holder.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        with db.engine.connect() as probe:
            while probe.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                                     "CAST(:t AS regclass)"), {"t": table}).scalar() < 2:
                assert time.monotonic() < deadline, "the two requests never met at the lock"
                probe.rollback()
                time.sleep(0.01)
        holder.commit()
    for thread in threads:
        thread.join(timeout=30)
    return answers


@pytest.mark.parametrize("name", sorted(RACES))
def test_two_identical_creates_at_once_answer_the_same_resource_and_write_one_row(client, service, app, name):
    from sqlalchemy import text

    from app.extensions import db

    send, lock_table, row_table, setup = RACES[name]
    if setup:
        setup(app, service)
    for attempt in range(3):
        key = f"race-{attempt}"
        answers = _race(app, lock_table, lambda c: send(c, service, key))
        assert all(not isinstance(a, Exception) for a in answers), answers
        assert [a.status_code for a in answers] == [202, 202], [a.json for a in answers]
        assert answers[0].json["id"] == answers[1].json["id"]
        assert answers[0].json == answers[1].json  # the loser gets the winner's answer, audience count included
        assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
        with app.app_context():
            rows = db.session.execute(text(f"SELECT count(*) FROM {row_table} WHERE idempotency_key = :k"),
                                      {"k": key}).scalar()
            db.session.rollback()
        assert rows == 1
