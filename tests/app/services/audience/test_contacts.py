"""Contact import (COPY + one upsert), export and erasure, against the real database."""
from __future__ import annotations

import csv
import io

import pytest
from contacts_testing import FARMERS, HEADER, contact_count, csv_bytes, import_rows, scalar

from app.errors import MalformedRequest, PayloadTooLarge, ValidationFailed
from app.extensions import db
from app.services.audience import contacts
from app.services.control import contacts_erasure


def test_import_normalises_and_reports_rejects_by_line(app, service):
    rows = FARMERS[:3] + ["f9,not a phone,,,,,,", ",+260961000010,,,,,,", "f11,+260961000011,nope,,,,,",
                          "f12,+260961000012", "f13,+260961000013,,xx-toolongtag,,,,", "f14,+260961000014,,,maybe,,,"]
    report = import_rows(app, service.service_id, rows)
    assert (report["rows"], report["created"], report["updated"], report["rejected"]) == (9, 3, 0, 6)
    assert report["rejects"] == [
        {"line": 5, "field": "phone", "reason": "not a phone number"},
        {"line": 6, "field": "external_id", "reason": "is empty"},
        {"line": 7, "field": "email", "reason": "not an email address"},
        {"line": 8, "field": None, "reason": "2 fields; the header has 8"},
        {"line": 9, "field": "language", "reason": "not a language code such as en, bem or ny"},
        {"line": 10, "field": "consent_sms", "reason": "must be yes or no"},
    ]
    with app.app_context():
        f2 = contacts.get(service.service_id, "f2")
    assert (f2["phone"], f2["phone_carrier"], f2["language"]) == ("+260971000002", "Airtel", "bem")
    assert f2["attributes"] == {"district": "Chipata", "crop": "cotton", "hectares": "5"}
    assert f2["consent"]["sms"]["granted"] is True and f2["consent"]["sms"]["source"] == "import"


def test_landline_is_kept_with_the_reason_it_cannot_receive_sms(app, service):
    import_rows(app, service.service_id, FARMERS)
    assert scalar(app, "SELECT phone_error FROM contacts WHERE external_id = 'f7'") == "not_mobile"


def test_upsert_updates_by_external_id_merges_attributes_and_keeps_absent_columns(app, service):
    import_rows(app, service.service_id, FARMERS[:2])
    report = import_rows(app, service.service_id, ["f1,+260961999999,sorghum", "f20,+260961000020,rice"],
                         header="external_id,phone,crop")
    assert (report["created"], report["updated"]) == (1, 1)
    with app.app_context():
        f1 = contacts.get(service.service_id, "f1")
    assert f1["phone"] == "+260961999999" and f1["email"] == "a@x.org"
    assert f1["attributes"] == {"district": "Chipata", "crop": "sorghum", "hectares": "2"}
    assert contact_count(app) == 3


@pytest.mark.parametrize("data,error,details", [
    (b"phone,crop\n+260961000001,maize\n", ValidationFailed, {"field": "external_id", "line": 1}),
    (b"external_id,crop,crop\nf1,a,b\n", ValidationFailed, {"field": "crop", "line": 1}),
    (b"external_id,bad name\nf1,a\n", ValidationFailed, {"field": "bad name", "line": 1}),
    (b"external_id,phone\nf1,+260961000001\nf2,+26096\xff1000002\n", MalformedRequest, {"field": "file", "line": 3}),
    (b"external_id,phone\nf1,+260961000001\nf2,+260961000002\nf1,+260961000003\n", ValidationFailed,
     {"field": "external_id", "line": 4}),
])
def test_whole_file_faults_name_the_line_and_write_nothing(app, service, data, error, details):
    with app.app_context(), pytest.raises(error) as caught:
        contacts.import_csv(service.service_id, data, "ZM", 1000, 100)
    assert caught.value.details == details
    assert contact_count(app) == 0


def test_over_the_row_limit_is_413_and_writes_nothing(app, service):
    with app.app_context(), pytest.raises(PayloadTooLarge) as caught:
        contacts.import_csv(service.service_id, csv_bytes(FARMERS), "ZM", 5, 100)
    assert caught.value.details == {"field": "file", "line": 7}
    assert contact_count(app) == 0


def test_export_reads_back_through_the_importer(app, service, client):
    import_rows(app, service.service_id, FARMERS)
    with app.app_context():
        lines = list(contacts.export_rows(service.service_id, page_size=3))
    assert len(lines) == 8
    buffer = io.StringIO()
    csv.writer(buffer).writerows([contacts.EXPORT_COLUMNS, *lines])
    report_before = scalar(app, "SELECT md5(string_agg(external_id || phone || attributes::text, ',' ORDER BY id))"
                                " FROM contacts")
    again = import_rows(app, service.service_id, buffer.getvalue().strip().split("\n")[1:],
                        header=",".join(contacts.EXPORT_COLUMNS))
    assert (again["updated"], again["rejected"]) == (8, 0)
    assert scalar(app, "SELECT md5(string_agg(external_id || phone || attributes::text, ',' ORDER BY id))"
                       " FROM contacts") == report_before


def _message(app, service_id, broadcast, recipient, status):
    """A messages row written directly (intake is tested elsewhere)."""
    with app.app_context():
        db.session.execute(db.text(
            "INSERT INTO messages (broadcast_id, service_id, recipient, personalisation, carrier, status, cost)"
            " VALUES (:b, :s, :r, '{\"name\": \"Ada\"}', 'MTN', :st, 0.02)"),
            {"b": broadcast, "s": service_id, "r": recipient, "st": status})
        db.session.commit()


def test_erasure_replaces_addresses_in_past_messages_and_keeps_counts(app, service):
    import uuid

    import_rows(app, service.service_id, FARMERS[:2])
    first, second = uuid.uuid4(), uuid.uuid4()
    for bid, status in ((first, "delivered"), (second, "pending")):
        _message(app, service.service_id, bid, "+260961000001", status)
        _message(app, service.service_id, bid, "+260971000002", "sent")
    with app.app_context():
        assert contacts_erasure.erase(service.service_id, "f1")["messages_tombstoned"] == 2
    assert contact_count(app) == 1
    assert scalar(app, "SELECT count(*) FROM messages WHERE recipient = '+260961000001'") == 0
    assert scalar(app, "SELECT count(*) FROM messages WHERE recipient LIKE 'erased:%' AND personalisation IS NULL"
                       " AND cost = 0.02") == 2
    assert scalar(app, "SELECT count(DISTINCT recipient) FROM messages WHERE recipient LIKE 'erased:%'") == 2
    assert scalar(app, "SELECT count(*) FROM messages") == 4
    assert scalar(app, "SELECT status || '/' || error_code FROM messages WHERE broadcast_id = :b"
                       " AND recipient LIKE 'erased:%'", b=second) == "cancelled/contact_erased"
    assert scalar(app, "SELECT status FROM messages WHERE broadcast_id = :b AND recipient LIKE 'erased:%'",
                  b=first) == "delivered"


def test_tabs_backslashes_and_quotes_in_cells_survive_the_copy(app, service):
    tricky = 'Ch\\ip\tata "east"'
    data = f'external_id,district,attributes\n"f\\1","{tricky.replace(chr(34), chr(34) * 2)}","{{""note"": ""a\\\\b""}}"\n'
    with app.app_context():
        report = contacts.import_csv(service.service_id, data.encode(), "ZM", 10, 10)
        assert report["created"] == 1, report
        row = contacts.get(service.service_id, "f\\1")
    assert row["attributes"] == {"district": tricky, "note": "a\\b"}


def test_a_lone_surrogate_escaped_in_the_attributes_json_rejects_its_row(app, service):
    rows = ['f1,+260961000001,"{""plot"": ""A\\ud800""}"', 'f2,+260961000002,"{""plot"": ""B\\u0000""}"',
            'f3,+260961000003,"{""plot"": ""\\ud83d\\ude00""}"']
    report = import_rows(app, service.service_id, rows, header="external_id,phone,attributes")
    assert report["rejects"] == [
        {"line": 2, "field": "attributes.plot", "reason": "contains a lone UTF-16 surrogate"},
        {"line": 3, "field": "attributes.plot", "reason": "contains a NUL character"},
    ]
    assert report["created"] == 1
    with app.app_context():
        assert contacts.get(service.service_id, "f3")["attributes"] == {"plot": "😀"}
