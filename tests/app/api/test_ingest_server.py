"""The report ingest process, run as it is deployed and spoken to over real keep-alive HTTP."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlencode

import pytest
import requests
from herald_testing import ROOT, free_port, truncate_all, wait_until
from sqlalchemy import text

from app.extensions import db

ACCOUNTS = {
    "at_main": {"provider": "africastalking", "base_url": "http://127.0.0.1:8025", "username": "u",
                "api_key": "k", "webhook_secret": "secret-main"},
    "ib_zm": {"provider": "infobip", "base_url": "http://127.0.0.1:8028", "api_key": "k",
              "webhook_secret": "secret-ib"},
}
LIMIT = 4096


@pytest.fixture(scope="module")
def ingest(app, database_url, redis_url, tmp_path_factory):
    """The ingest server in a process of its own; its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": ROOT, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "HERALD_ACCOUNTS": json.dumps(ACCOUNTS), "HERALD_SMS_PROVIDER": "at_main",
           "HERALD_WEBHOOK_MAX_BYTES": str(LIMIT)}
    log = open(tmp_path_factory.mktemp("ingest") / "ingest.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.api.ingest_server", "--bind", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/healthz"), 30, 0.2, "the ingest server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answers(url: str) -> bool:
    """Whether GET url answers 200."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _stored(app) -> list[tuple]:
    """(account, provider message id, status) of every stored report."""
    with app.app_context():
        rows = db.session.execute(text("SELECT provider, provider_message_id, status FROM delivery_events ORDER BY id"))
        result = [tuple(row) for row in rows]
        db.session.rollback()
    return result


def _at(message_id: str, **extra) -> dict:
    """An Africa's Talking delivery report form."""
    return {"id": message_id, "status": "Success", "phoneNumber": "+260971234567", "networkCode": "64502", **extra}


def test_single_reports_are_stored_once_and_answered_on_one_kept_alive_connection(app, redis_url, ingest):
    truncate_all(app, redis_url)
    session = requests.Session()
    answers = [session.post(f"{ingest}/webhooks/at_main/secret-main", data=_at(f"K{n % 3}"), timeout=10)
               for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.json()["stored"] for a in answers] == [True, True, True, False, False, False]
    assert answers[-1].headers["Connection"] == "keep-alive"
    assert sorted(_stored(app)) == [("at_main", f"K{n}", "delivered") for n in range(3)]


def test_every_other_answer_is_the_flask_apps(app, redis_url, ingest):
    truncate_all(app, redis_url)
    session = requests.Session()
    post = lambda path, **kw: session.post(f"{ingest}{path}", timeout=10, **kw)  # noqa: E731
    forged = post("/webhooks/at_main/wrong", data=_at("F1"))
    unknown = post("/webhooks/nobody/secret-main", data=_at("F2"))
    nul = post("/webhooks/at_main/secret-main", data=_at("F3", status="Success\x00"))
    big = post("/webhooks/at_main/secret-main", data=urlencode(_at("F4", pad="x" * LIMIT)),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    bulk = post("/webhooks/ib_zm/secret-ib", json={"results": [
        {"messageId": f"IB{n}", "to": "260971234567", "status": {"groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"}}
        for n in range(3)]})
    assert (forged.status_code, unknown.status_code, nul.status_code, big.status_code) == (403, 404, 400, 413)
    assert forged.json()["error"]["code"] and nul.json()["error"]["details"]["field"]
    assert bulk.status_code == 200, bulk.text
    assert session.get(f"{ingest}/healthz", timeout=10).status_code == 200
    assert sorted(_stored(app)) == [("ib_zm", f"IB{n}", "delivered") for n in range(3)]


def test_a_request_that_cannot_be_read_is_answered_400_and_closed(ingest):
    host, port = ingest.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"NONSENSE\r\n\r\n")
        answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ") and conn.recv(4096) == b""
