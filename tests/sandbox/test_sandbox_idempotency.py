"""Herald's Idempotency-Key extension: a resend is answered, not sent again."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def entries(response) -> list[dict]:
    """The Recipients list of an AT answer."""
    return response.json()["SMSMessageData"]["Recipients"]


def test_same_key_replays_first_answer(sandbox):
    first = sandbox.send("+260971234567", keys="msg-1")
    second = sandbox.send("+260971234567", keys="msg-1")
    assert second.status_code == 201
    assert entries(second) == entries(first)
    assert second.json()["SMSMessageData"]["Message"] == "Sent to 1/1 Total Cost: ZMW 0.2400"
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["replays"], ledger["requests"]) == (1, 1, 2)
    assert ledger["by_key"] == {"msg-1": 1}
    assert ledger["by_recipient"] == {"+260971234567": 1}
    assert ledger["duplicate_recipients"] == []


def test_keys_are_per_recipient_in_order(sandbox):
    first = sandbox.send(["+260971234567", "+260961234567"], keys=["a", "b"])
    mixed = sandbox.send(["+260961234567", "+260951234567"], keys=["b", "c"])
    assert entries(mixed)[0] == entries(first)[1]
    assert entries(mixed)[1]["messageId"] not in {e["messageId"] for e in entries(first)}
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["replays"]) == (3, 1)


def test_without_honouring_keys_a_resend_is_sent_twice(sandbox):
    sandbox.configure(honour_idempotency=False).raise_for_status()
    first = sandbox.send("+260971234567", keys="msg-1")
    second = sandbox.send("+260971234567", keys="msg-1")
    assert entries(first)[0]["messageId"] != entries(second)[0]["messageId"]
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["replays"]) == (2, 0)
    assert ledger["by_key"] == {"msg-1": 2}
    assert ledger["duplicate_recipients"] == ["+260971234567"]


def test_no_header_means_no_dedup(sandbox):
    sandbox.send("+260971234567")
    sandbox.send("+260971234567")
    assert sandbox.ledger()["by_recipient"] == {"+260971234567": 2}


def test_key_count_must_match_recipients(sandbox):
    response = sandbox.send(["+260971234567", "+260961234567"], keys="only-one")
    assert response.status_code == 400
    assert sandbox.send("+260971234567", keys="a,b").status_code == 400
    assert sandbox.send(["+260971234567", "+260961234567"], keys="a,").status_code == 400
    assert sandbox.ledger()["accepted"] == 0


def test_permanent_failures_are_not_remembered(sandbox):
    sandbox.send("+260971999999", keys="k")
    sandbox.send("+260971999999", keys="k")
    ledger = sandbox.ledger()
    assert (ledger["permanent_failures"], ledger["replays"]) == (2, 0)


def test_concurrent_resends_are_accepted_once(sandbox):
    def resend(_):
        """One send on its own connection, as separate workers would."""
        return type(sandbox)(sandbox.base_url).send("+260971234567", keys="race")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(resend, range(40)))
    assert {entries(a)[0]["messageId"] for a in answers} == {entries(answers[0])[0]["messageId"]}
    ledger = sandbox.ledger()
    assert (ledger["accepted"], ledger["replays"]) == (1, 39)
