"""The OpenAPI document's dead-letter part: the operator's list of what could not be sent, and its verbs."""
from __future__ import annotations

from app.api.openapi_kit import INTEGER, STRING, TIME, UUID_TEXT, array, fails, link, nullable, obj, op, ref, reply

SCHEMAS = {
    "DeadLetter": obj({"id": INTEGER, "message_id": INTEGER, "broadcast_id": nullable(UUID_TEXT),
                       "recipient": STRING, "carrier": nullable(STRING), "reason": STRING,
                       "error_code": nullable(STRING), "error_detail": nullable(STRING),
                       "attempts": INTEGER, "created_at": TIME}),
    "DeadLetterPage": obj({"dead_letters": array(ref("DeadLetter")), "next_after": nullable(INTEGER)}),
    "Resolution": obj({"id": INTEGER, "resolution": {**STRING, "enum": ["requeued", "discarded"]}}),
    "BulkRequeued": obj({"requeued": INTEGER, "skipped": INTEGER, "broadcast_ids": array(UUID_TEXT)}),
    "BulkDiscarded": obj({"discarded": INTEGER}),
}
# The first entry of a page leads to its verbs (Schemathesis follows these in its stateful phase).
FIRST_ENTRY = {name: link(name, dead_letter_id="$response.body#/dead_letters/0/id")
               for name in ("requeueDeadLetter", "discardDeadLetter")}


# 409 outcome_unknown_requires_force: the entry's send may have reached the gateway; requeue it with force.
RESOLVE_FAILS = fails("BadRequest", "NotFound", "Conflict", "Unprocessable")


def resolve(verb: str, summary: str) -> dict:
    """POST /v1/dead-letters/{id}/<verb>."""
    return {"post": op(f"{verb}DeadLetter", "dead-letters", summary, {
        "200": reply("The entry is resolved.", ref("Resolution")), **RESOLVE_FAILS})}


def resolve_many(verb: str, summary: str, answer: str) -> dict:
    """POST /v1/dead-letters/<verb>: every open entry matching the filter."""
    return {"post": op(f"{verb}DeadLetters", "dead-letters", summary, {
        "200": reply("What was resolved.", ref(answer)), **RESOLVE_FAILS})}


PATHS = {
    "/v1/dead-letters": {"get": op("listDeadLetters", "dead-letters", "Open dead letters, oldest first", {
        "200": reply("One page; next_after is null on the last.", ref("DeadLetterPage"), links=FIRST_ENTRY),
        **fails("NotFound", "Unprocessable")})},
    "/v1/dead-letters/requeue": resolve_many("requeue", "Requeue every open entry of a broadcast and/or reason",
                                             "BulkRequeued"),
    "/v1/dead-letters/discard": resolve_many("discard", "Discard every open entry of a broadcast and/or reason",
                                             "BulkDiscarded"),
    "/v1/dead-letters/{dead_letter_id}/requeue": resolve("requeue", "Send the message again, with fresh attempts"),
    "/v1/dead-letters/{dead_letter_id}/discard": resolve("discard", "Close the entry; the message stays failed"),
}
