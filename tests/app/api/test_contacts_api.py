"""/v1/contacts and /v1/segments over HTTP: status codes, error shapes, nothing half-written."""
from __future__ import annotations

from contacts_testing import FARMERS, contact_count, csv_bytes
from herald_testing import make_service, post_json


def upload(client, service, data: bytes, as_form: bool = False):
    """POST a contact CSV, as a text/csv body or a multipart file."""
    if as_form:
        import io

        return client.post("/v1/contacts/import", headers=service.headers,
                           data={"file": (io.BytesIO(data), "contacts.csv")}, content_type="multipart/form-data")
    return client.post("/v1/contacts/import", data=data, headers={**service.headers, "Content-Type": "text/csv"})


def test_import_then_read_page_patch_and_delete(app, client, service):
    report = upload(client, service, csv_bytes(FARMERS + ["f9,garbage,,,,,,"]), as_form=True)
    assert report.status_code == 200
    assert (report.json["created"], report.json["rejected"]) == (8, 1)
    assert report.json["rejects"] == [{"line": 10, "field": "phone", "reason": "not a phone number"}]
    first = client.get("/v1/contacts?limit=5", headers=service.headers).json
    assert [c["external_id"] for c in first["contacts"]] == ["f1", "f2", "f3", "f4", "f5"]
    rest = client.get(f"/v1/contacts?limit=5&after={first['next_after']}", headers=service.headers).json
    assert [c["external_id"] for c in rest["contacts"]] == ["f6", "f7", "f8"] and rest["next_after"] is None
    patched = client.patch("/v1/contacts/f2", headers=service.headers, json={
        "phone": "0961000222", "attributes": {"crop": None, "plot": 4},
        "consent": {"sms": {"granted": False, "source": "call centre"}}})
    assert patched.status_code == 200
    assert patched.json["phone"] == "+260961000222" and patched.json["attributes"] == {
        "district": "Chipata", "hectares": "5", "plot": 4}
    assert patched.json["consent"]["sms"]["granted"] is False
    assert client.delete("/v1/contacts/f2", headers=service.headers).status_code == 200
    assert client.get("/v1/contacts/f2", headers=service.headers).status_code == 404


def test_bad_patch_names_the_field_and_changes_nothing(app, client, service):
    upload(client, service, csv_bytes(FARMERS[:1]))
    for body, field in (({"phone": "not a phone"}, "phone"), ({"colour": "red"}, "colour"),
                        ({"attributes": {"bad name": 1}}, "attributes.bad name"),
                        ({"consent": {"sms": {"granted": "yes"}}}, "consent.sms.granted")):
        response = client.patch("/v1/contacts/f1", headers=service.headers, json=body)
        assert response.status_code == 422 and response.json["error"]["details"]["field"] == field
    assert client.get("/v1/contacts/f1", headers=service.headers).json["phone"] == "+260961000001"
    assert client.patch("/v1/contacts/nobody", headers=service.headers, json={}).status_code == 404


def test_bad_files_are_4xx_naming_the_line_and_write_nothing(app, client, service):
    duplicate = upload(client, service, csv_bytes(FARMERS[:3] + [FARMERS[0]]))
    assert duplicate.status_code == 422
    assert duplicate.json["error"]["details"] == {"field": "external_id", "line": 5}
    encoding = upload(client, service, b"external_id,phone\nf1,\xe9\n")
    assert encoding.status_code == 400 and encoding.json["error"]["details"]["line"] == 2
    header = upload(client, service, b"id,phone\n1,+260961000001\n")
    assert header.status_code == 422 and header.json["error"]["details"] == {"field": "external_id", "line": 1}
    app.config["HERALD_MAX_CONTACT_ROWS"] = 3
    try:
        too_many = upload(client, service, csv_bytes(FARMERS))
    finally:
        app.config["HERALD_MAX_CONTACT_ROWS"] = 200_000
    assert too_many.status_code == 413 and too_many.json["error"]["details"]["line"] == 5
    assert client.post("/v1/contacts/import", headers=service.headers, json={}).status_code == 400
    assert contact_count(app) == 0


def test_export_streams_csv_and_other_services_see_nothing(app, client, service):
    upload(client, service, csv_bytes(FARMERS))
    export = client.get("/v1/contacts/export", headers=service.headers)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).strip().split("\r\n")
    assert lines[0].startswith("external_id,phone,email") and len(lines) == 9
    other = make_service(app, "programme-b")
    assert client.get("/v1/contacts/f1", headers=other.headers).status_code == 404
    assert client.get("/v1/contacts/export", headers=other.headers).get_data(as_text=True).count("\n") == 1


def test_segments_save_list_count_delete(app, client, service):
    upload(client, service, csv_bytes(FARMERS))
    spec = {"and": [{"field": "attributes.crop", "eq": "maize"}, {"field": "attributes.district", "eq": "Chipata"}]}
    assert post_json(client, service, "/v1/segments", {"name": "chipata-maize", "filter": spec}).status_code == 201
    assert post_json(client, service, "/v1/segments", {"name": "chipata-maize", "filter": spec}).status_code == 409
    bad = post_json(client, service, "/v1/segments", {"name": "x", "filter": {"field": "attributes.soil", "eq": 1}})
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "attributes.soil"
    assert client.get("/v1/segments/chipata-maize/count", headers=service.headers).json["count"] == 3
    assert [s["name"] for s in client.get("/v1/segments", headers=service.headers).json["segments"]] == [
        "chipata-maize"]
    assert client.delete("/v1/segments/chipata-maize", headers=service.headers).status_code == 200
    assert client.get("/v1/segments/chipata-maize/count", headers=service.headers).status_code == 404


def _everything(app) -> str:
    """Every row of the tables an erasure touches, as text."""
    from contacts_testing import scalar

    tables = ("contacts", "messages", "delivery_events", "audit_log", "dead_letters", "opt_outs", "opt_out_events")
    return "\n".join(scalar(app, f"SELECT coalesce(string_agg(to_jsonb(t)::text, ',' ORDER BY to_jsonb(t)::text), '')"
                                 f" FROM {table} t") for table in tables)


def test_erasing_an_unknown_or_another_services_contact_is_404_and_changes_nothing(app, client, service):
    other = make_service(app, "programme-b")
    upload(client, other, csv_bytes(FARMERS[:1]))
    post_json(client, other, "/v1/broadcasts", {"channel": "sms", "body": "hi", "recipients": [{"to": "+260961000001"}]})
    before = _everything(app)
    for external_id in ("f1", "nobody"):
        answer = client.delete(f"/v1/contacts/{external_id}", headers=service.headers)
        assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found", answer.json
    assert _everything(app) == before


def test_erasure_answers_with_a_receipt_that_holds_no_number(app, client, service):
    upload(client, service, csv_bytes(FARMERS[:2]))
    post_json(client, service, "/v1/broadcasts", {"channel": "sms", "body": "hi", "recipients": [
        {"to": "+260961000001"}, {"to": "+260971000002"}]})
    answer = client.delete("/v1/contacts/f1", headers=service.headers)
    assert answer.status_code == 200
    receipt = answer.json["receipt"]
    assert (answer.json["messages_erased"], receipt["messages_tombstoned"], receipt["messages_cancelled"]) == (1, 1, 1)
    assert receipt["contact_deleted"] is True and receipt["erased_at"] and receipt["kept_why"]
    assert "961000001" not in str(answer.json) and "961000001" not in _everything(app)
    assert client.delete("/v1/contacts/f1", headers=service.headers).status_code == 404
