"""AT's JSON answer to a send request, built from pre-encoded recipient entries.

Entries are encoded once as text so a dedup replay can hand back the very
same bytes, and so the hot path skips building and dumping dicts.
"""
from __future__ import annotations

import json

SUCCESS = (101, "Success")
INVALID_NUMBER = (403, "InvalidPhoneNumber")
BLACKLISTED = (406, "UserInBlacklist")
TEMPORARY_FAILURE = (500, "InternalServerError")


def accepted_entry(number: str, cost: str, message_id: str, parts: int) -> str:
    """A Success recipient entry; `number` is already known to be '+' and digits."""
    code, status = SUCCESS
    return (
        f'{{"statusCode":{code},"number":"{number}","status":"{status}",'
        f'"cost":{json.dumps(cost)},"messageId":"{message_id}","messageParts":{parts}}}'
    )


def failed_entry(number: str, code_and_status: tuple[int, str]) -> str:
    """A refused recipient entry: no cost, no message id, no parts."""
    code, status = code_and_status
    return (
        f'{{"statusCode":{code},"number":{json.dumps(number)},"status":"{status}",'
        f'"cost":"0","messageId":"None","messageParts":0}}'
    )


def send_response(entries: list[str], sent: int, total_cost: str) -> bytes:
    """The whole SMSMessageData body around already encoded entries."""
    summary = json.dumps(f"Sent to {sent}/{len(entries)} Total Cost: {total_cost}")
    return (
        '{"SMSMessageData":{"Message":' + summary + ',"Recipients":[' + ",".join(entries) + "]}}"
    ).encode()
