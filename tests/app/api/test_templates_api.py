"""/v1/templates: versions on every save, refusals naming the position, broadcasts by template name."""
from __future__ import annotations

from herald_testing import count_rows, make_service, post_json, recipients

from app.extensions import db
from app.models import Broadcast, Message


def save(client, service, body, name="advisory", **extra):
    """POST one template."""
    return post_json(client, service, "/v1/templates", {"name": name, "channel": "sms", "body": body, **extra})


def test_each_save_is_a_new_version(client, service):
    first = save(client, service, "Rain on ((day)).")
    second = save(client, service, "Heavy rain on ((day|default:Monday)).")
    bemba = save(client, service, "Imfula ((day)).", language="bem")
    assert (first.status_code, second.status_code, bemba.status_code) == (201, 201, 201)
    assert (first.json["version"], second.json["version"], bemba.json["version"]) == (1, 2, 1)
    shown = client.get("/v1/templates/advisory", headers=service.headers).json["versions"]
    assert [(v["language"], v["version"]) for v in shown] == [("", 2), ("", 1), ("bem", 1)]
    newest = client.get("/v1/templates", headers=service.headers).json["templates"]
    assert sorted((t["language"], t["version"]) for t in newest) == [("", 2), ("bem", 1)]


def test_a_broken_template_is_refused_naming_the_position(client, service):
    response = save(client, service, "Hello ((name|shout))")
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"field": "body", "position": 6}
    unbalanced = save(client, service, "Hello ((name")
    assert unbalanced.status_code == 422 and unbalanced.json["error"]["details"]["position"] == 6
    assert client.get("/v1/templates/advisory", headers=service.headers).status_code == 404


def test_another_service_cannot_see_a_template(client, service, app):
    save(client, service, "Rain")
    other = make_service(app, "programme-b")
    assert client.get("/v1/templates/advisory", headers=other.headers).status_code == 404


def test_a_broadcast_by_template_name_records_the_version(client, service, app):
    save(client, service, "Old text ((name))")
    save(client, service, "Dear ((name|default:farmer)), rain tomorrow.")
    payload = {"channel": "sms", "template": "advisory", "recipients": recipients(2)}
    response = post_json(client, service, "/v1/broadcasts", payload)
    assert response.status_code == 202
    pinned = post_json(client, service, "/v1/broadcasts", {**payload, "template_version": 1})
    with app.app_context():
        latest = db.session.get(Broadcast, response.json["id"])
        old = db.session.get(Broadcast, pinned.json["id"])
        assert latest.body == "Dear ((name|default:farmer)), rain tomorrow."
        assert latest.options["template"] == {"name": "advisory", "version": 2, "language": ""}
        assert old.options["template"]["version"] == 1
        # Version 1 needs ((name)): both recipients lack it and are rejected with the reason.
        assert {m.error_code for m in db.session.query(Message).filter_by(broadcast_id=old.id)} == {
            "missing_personalisation"}


def test_an_unknown_template_name_is_refused(client, service, app):
    response = post_json(client, service, "/v1/broadcasts",
                         {"channel": "sms", "template": "nope", "recipients": recipients(1)})
    assert response.status_code == 422 and response.json["error"]["details"]["field"] == "template"
    assert count_rows(app) == (0, 0)


def test_a_broadcast_body_with_a_bad_filter_is_refused_whole(client, service, app):
    response = post_json(client, service, "/v1/broadcasts",
                         {"channel": "sms", "body": "Hi ((name|bold))", "recipients": recipients(3)})
    assert response.status_code == 422 and response.json["error"]["details"]["position"] == 3
    assert count_rows(app) == (0, 0)


def test_each_recipient_gets_the_variant_in_their_language(client, service, app):
    from app.services.state import claims
    from app.services.sending.send_context import load_send_context, outbound_messages

    save(client, service, "Rain tomorrow, ((name)).")
    save(client, service, "Imfula mailo, ((name)).", language="bem")
    save(client, service, "Mvula mawa, ((name)).", language="nya")
    audience = [{"to": "+260961000001", "personalisation": {"name": "Chanda", "language": "bem"}},
                {"to": "+260961000002", "personalisation": {"name": "Tiyamike", "language": "nya"}},
                {"to": "+260961000003", "personalisation": {"name": "Ada", "language": "fr"}}]
    payload = {"channel": "sms", "template": "advisory", "recipients": audience}
    preview = post_json(client, service, "/v1/broadcasts", {**payload, "dry_run": True}).json
    texts = ["Imfula mailo, Chanda.", "Mvula mawa, Tiyamike.", "Rain tomorrow, Ada."]
    assert [s["body"] for s in preview["sample"]] == texts
    bid = post_json(client, service, "/v1/broadcasts", payload).json["id"]
    with app.app_context():
        claim = claims.claim_batch(bid, 10, 60)
        sent = outbound_messages(load_send_context(bid), claim.rows)
        assert sorted(m.body for m in sent) == sorted(texts)
        variants = db.session.get(Broadcast, bid).options["template"]["variants"]
        assert variants == {"bem": {"body": "Imfula mailo, ((name)).", "version": 1},
                            "nya": {"body": "Mvula mawa, ((name)).", "version": 1}}
