"""POST /webhooks/<account>: each account's provider verifies and parses its own callbacks."""
from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlencode

import pytest
from herald_testing import truncate_all
from sqlalchemy import select

from app.extensions import db
from app.models import DeliveryEvent

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "providers"))
from dialects import INFOBIP, TWILIO, TWILIO_TOKEN  # noqa: E402
from providers.twilio import sign  # noqa: E402

TWILIO_URL = "http://localhost/webhooks/tw_main"
ACCOUNTS = {
    "at_main": {"provider": "africastalking", "base_url": "http://127.0.0.1:8025", "username": "u",
                "api_key": "k", "webhook_secret": "secret-main"},
    "at_backup": {"provider": "africastalking", "base_url": "http://127.0.0.1:8026", "username": "u2",
                  "api_key": "k2", "webhook_secret": "secret-backup"},
    "tw_main": {"provider": "twilio", "base_url": "http://127.0.0.1:8027", "account_sid": "AC123",
                "auth_token": TWILIO_TOKEN, "sender": "+15005550006", "status_callback": TWILIO_URL},
    "ib_zm": {"provider": "infobip", "base_url": "http://127.0.0.1:8028", "api_key": "k",
              "webhook_secret": "secret-ib"},
}


@pytest.fixture(scope="module")
def accounts_app(database_url, redis_url):
    """An app configured with four accounts of three providers."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True,
                       "HERALD_ACCOUNTS": json.dumps(ACCOUNTS), "HERALD_SMS_PROVIDER": "at_main",
                       "HERALD_WEBHOOK_MAX_BYTES": 4096})


@pytest.fixture(params=["flask", "lean"])
def client(request, accounts_app, redis_url):
    """A test client on emptied stores: through Flask alone, and through the lean report path as wsgi.py serves it."""
    from app.api.report_ingest import ReportIngest

    truncate_all(accounts_app, redis_url)
    plain = accounts_app.wsgi_app
    if request.param == "lean":
        accounts_app.wsgi_app = ReportIngest(accounts_app, plain)
    yield accounts_app.test_client()
    accounts_app.wsgi_app = plain


def stored(app) -> list[tuple[str, str, str | None]]:
    """(account, provider message id, Herald status) of every stored report."""
    with app.app_context():
        rows = db.session.execute(select(DeliveryEvent.provider, DeliveryEvent.provider_message_id,
                                         DeliveryEvent.status).order_by(DeliveryEvent.id))
        return [tuple(row) for row in rows]


def at_form(message_id: str = "ATXid_1") -> dict:
    """An Africa's Talking delivery report."""
    return {"id": message_id, "status": "Success", "phoneNumber": "+260971234567", "networkCode": "64502"}


def test_two_accounts_of_one_provider_each_check_their_own_secret(accounts_app, client):
    assert client.post("/webhooks/at_main/secret-main", data=at_form("A1")).json == {"stored": True}
    assert client.post("/webhooks/at_backup?secret=secret-backup", data=at_form("B1")).status_code == 200
    refused = client.post("/webhooks/at_backup/secret-main", data=at_form("B2"))

    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert stored(accounts_app) == [("at_main", "A1", "delivered"), ("at_backup", "B1", "delivered")]


def test_an_unknown_account_is_404(accounts_app, client):
    response = client.post("/webhooks/nobody/secret-main", data=at_form())

    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert stored(accounts_app) == []


def test_a_signed_twilio_callback_is_stored_and_a_forged_one_refused(accounts_app, client):
    good = TWILIO.report("SM1", "delivered", False)
    forged = TWILIO.report("SM2", "delivered", True)
    signed = {"X-Twilio-Signature": sign(TWILIO_TOKEN.encode(), TWILIO_URL, good.form)}

    assert client.post("/webhooks/tw_main", data=good.form, headers=signed).status_code == 200
    refused = client.post("/webhooks/tw_main", data=forged.form, headers=dict(forged.headers))
    unsigned = client.post("/webhooks/tw_main", data=good.form)

    assert refused.status_code == unsigned.status_code == 403
    assert stored(accounts_app) == [("tw_main", "SM1", "delivered")]


def test_one_infobip_post_carries_many_reports(accounts_app, client):
    results = [json.loads(INFOBIP.report(f"IB{i}", status, False).body)["results"][0]
               for i, status in enumerate(("DELIVERED", "UNDELIVERABLE"))]

    response = client.post("/webhooks/ib_zm/secret-ib", json={"results": results})

    assert response.status_code == 200
    assert stored(accounts_app) == [("ib_zm", "IB0", "delivered"), ("ib_zm", "IB1", "failed")]


@pytest.mark.parametrize("body", [b"not json", b'{"results": []}', b'{"results": [{"messageId": "x"}]}'])
def test_an_unparseable_report_is_400_and_stores_nothing(accounts_app, client, body):
    response = client.post("/webhooks/ib_zm/secret-ib", data=body, content_type="application/json")

    assert response.status_code == 400 and response.json["error"]["details"]["field"] == "body"
    assert stored(accounts_app) == []


def test_an_oversized_report_is_413_and_stores_nothing(accounts_app, client):
    form = {**at_form(), "padding": "x" * 5000}

    response = client.post("/webhooks/at_main/secret-main", data=urlencode(form),
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert stored(accounts_app) == []


def test_a_bad_signature_is_refused_before_the_body_is_parsed(accounts_app, client):
    response = client.post("/webhooks/ib_zm/wrong", data=b"not json", content_type="application/json")

    assert response.status_code == 403 and stored(accounts_app) == []


def test_a_plain_single_report_never_reaches_flask_and_a_refusal_always_does(accounts_app, redis_url):
    from werkzeug.test import Client

    from app.api.report_ingest import ReportIngest

    truncate_all(accounts_app, redis_url)
    seen: list[str] = []

    def flask_app(environ, start_response):
        seen.append(environ["PATH_INFO"])
        return accounts_app.wsgi_app(environ, start_response)

    lean = Client(ReportIngest(accounts_app, flask_app))
    first = lean.post("/webhooks/at_main/secret-main", data=at_form("L1"))
    again = lean.post("/webhooks/at_main/secret-main", data=at_form("L1"))
    assert (first.status_code, first.get_json(), again.get_json()) == (200, {"stored": True}, {"stored": False})
    assert seen == []
    assert lean.post("/webhooks/at_main/wrong", data=at_form("L2")).status_code == 403
    assert lean.post("/webhooks/at_main/secret-main", data={**at_form("L3"), "status": "Success\x00"}).status_code == 400
    assert seen == ["/webhooks/at_main/wrong", "/webhooks/at_main/secret-main"]
    assert stored(accounts_app) == [("at_main", "L1", "delivered")]
