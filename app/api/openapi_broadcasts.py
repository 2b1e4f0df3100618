"""The OpenAPI document's sending part: broadcasts, their messages and lifecycle, transactional messages."""
from __future__ import annotations

from app.api.openapi_accounts import SUMMARY_FIELDS
from app.api.openapi_kit import (BOOLEAN, INTEGER, MONEY, NUMBER, OBJECT, STRING, TIME, UUID_TEXT, array, fails, link,
                                 nullable, obj, op, ref, reply, unprocessable)
from app.statuses import ALL_MESSAGE_STATUSES, BroadcastStatus, PausedReason
from app.statuses import MessageStatus

SEND_WINDOW = obj({"start": {**STRING, "examples": ["08:00"]}, "end": {**STRING, "examples": ["20:00"]},
                   "timezone": {**nullable(STRING), "description": "IANA zone; defaults to the recipients' own."}},
                  "Send only between two local times of day.", required=["start", "end"])
BROADCAST_FIELDS = {
    "id": UUID_TEXT, "status": {**STRING, "enum": [s.value for s in BroadcastStatus]},
    "paused_reason": {"type": ["string", "null"], "enum": [r.value for r in PausedReason] + [None],
                      "description": "operator; quota (resumes at the window reset); gateway_down (resumes by "
                                     "itself once the gateway answers again); gateway_rejected (credentials or "
                                     "URL refused: waits for an operator's resume)."},
    "channel": STRING, "provider": STRING, "body": STRING, "sender": nullable(STRING), "priority": STRING,
    "rate_limit_per_second": nullable(NUMBER), "scheduled_for": nullable(TIME), "send_window": {
        "oneOf": [SEND_WINDOW, {"type": "null"}]},
    "waiting_for_window": BOOLEAN, "window_opens_at": TIME,
    "recipients": INTEGER, "accepted": INTEGER, MessageStatus.REJECTED: INTEGER, "duplicates": INTEGER,
    "audience": {**INTEGER, "description": "Contacts a segment or filter broadcast addresses (only on its 202); "
                                          "accepted and rejected grow as the producer resolves them."},
    "created_at": nullable(TIME), "started_at": nullable(TIME), "finished_at": nullable(TIME),
}
CARRIER = {"type": "object", "properties": {"total": INTEGER, "accepted": INTEGER, "cost": MONEY},
           "additionalProperties": INTEGER, "description": "Totals, plus a count per message status seen."}
SUMMARY = {"allOf": [ref("Broadcast"), obj({
    "counts": obj({status: INTEGER for status in ALL_MESSAGE_STATUSES}),
    "carriers": {"type": "object", "additionalProperties": ref("CarrierCounts")},
    "routes": {"type": "object", "additionalProperties": ref("CarrierCounts"),
               "description": "Per route (routed broadcasts): the route of each row's last claim."},
    "accounts": {"type": "object", "additionalProperties": ref("CarrierCounts"),
                 "description": "Per gateway account that carried (or last tried) the messages."},
    "paths": {**array({"type": "object", "additionalProperties": INTEGER, "required": ["carrier", "account"],
                       "properties": {"carrier": STRING, "route": nullable(STRING), "account": STRING,
                                      "total": INTEGER, "accepted": INTEGER, "cost": MONEY}}),
              "description": "Per carrier, route and account: which way each carrier's messages went."},
    "cost": MONEY, **SUMMARY_FIELDS, "send_rate_per_second": NUMBER,
    "send_rate_history": {**array(obj({"at": INTEGER, "rate": NUMBER})),
                          "description": "Mean msg/s per 5 s over the last 5 minutes, oldest first; "
                                         "`at` is the unix time a step ends."},
    "eta_seconds": {**nullable(NUMBER),
                    "description": "null while messages are open but none went out in the last 10 s."},
})]}
MESSAGE_STATUS = {**STRING, "enum": list(ALL_MESSAGE_STATUSES),
                  "description": "unknown_delivery: the gateway took it, but no final delivery report came "
                                 "within the report timeout; a late report still moves it on."}
DELIVERY_FIELDS = {"carrier": nullable(STRING), "status": MESSAGE_STATUS, "attempts": INTEGER,
                   "provider_message_id": nullable(STRING), "segments": nullable(INTEGER),
                   "cost": nullable(MONEY), "currency": nullable(STRING), "error_code": nullable(STRING),
                   "error_detail": nullable(STRING), "created_at": TIME, "sent_at": nullable(TIME),
                   "finished_at": nullable(TIME)}
# The two window fields appear only when the broadcast has a sending window.
SCHEMAS = {
    "Broadcast": obj(BROADCAST_FIELDS, "A broadcast's own fields.", required=[
        k for k in BROADCAST_FIELDS if k not in ("waiting_for_window", "window_opens_at", "audience")]),
    "BroadcastList": obj({"broadcasts": array(ref("Broadcast"))}),
    "CarrierCounts": CARRIER,
    "BroadcastSummary": SUMMARY,
    "MessageRow": obj({"id": INTEGER, "recipient": STRING, "route": nullable(STRING), "provider": STRING,
                       **DELIVERY_FIELDS}),
    "MessagePage": obj({"messages": array(ref("MessageRow")), "next_after": nullable(INTEGER)}),
    "AuditLog": obj({"audit": array(obj({
        "at": TIME, "actor": STRING, "action": STRING, "from_status": nullable(STRING),
        "to_status": nullable(STRING), "reason": nullable(STRING), "details": nullable(OBJECT)}))}),
    "Message": obj({"id": INTEGER, "to": STRING, "broadcast_id": nullable(UUID_TEXT), **DELIVERY_FIELDS}),
    "MessageAccepted": {"allOf": [ref("Message"), obj({"queue_position": {
        **INTEGER, "description": "Due transactional messages ahead of this one."}})]},
}
LOCATION = {"Location": {"schema": STRING, "description": "Where to read the created resource."},
            "Idempotent-Replayed": {"schema": {**STRING, "enum": ["true"]},
                                    "description": "Present when the answer replays an earlier request."}}
# Where a created broadcast's id leads (Schemathesis follows these in its stateful phase).
BROADCAST_LINKS = {name: link(name, broadcast_id="$response.body#/id") for name in (
    "getBroadcast", "listBroadcastMessages", "downloadBroadcastReport", "getBroadcastAudit", "pauseBroadcast",
    "resumeBroadcast", "cancelBroadcast")}


def lifecycle(verb: str, summary: str) -> dict:
    """POST /v1/broadcasts/{id}/<verb>: 200 with the broadcast, 409 when its status forbids it."""
    return {"post": op(f"{verb}Broadcast", "broadcasts", summary, {
        "200": reply("The broadcast after the move.", ref("Broadcast"), links=BROADCAST_LINKS),
        **fails("BadRequest", "NotFound", "Conflict", "Unprocessable")})}


PATHS = {
    "/v1/broadcasts": {
        "post": op("createBroadcast", "broadcasts", "Accept a broadcast (JSON or a multipart CSV upload)", {
            "202": reply("Accepted; sending starts unless scheduled.", ref("Broadcast"), LOCATION, BROADCAST_LINKS),
            "200": reply("A dry run's estimate (dry_run: true); nothing was written.", ref("DryRun")),
            **fails("BadRequest", "PayloadTooLarge"), **unprocessable(
                "idempotency_key_reused", "scheduled_in_past", "empty_send_window", "timezone_required",
                "invalid_template", "unknown_template", "unknown_segment", "unknown_attribute", "unknown_broadcast",
                "filter_too_complex", "invalid_csv", "channel_unavailable")}),
        "get": op("listBroadcasts", "broadcasts", "This service's broadcasts, newest first", {
            "200": reply("Broadcasts without per-message counts.", ref("BroadcastList")), **fails("Unprocessable")}),
    },
    "/v1/broadcasts/{broadcast_id}": {"get": op(
        "getBroadcast", "broadcasts", "Status, counts per status and carrier, cost, send rate and ETA", {
            "200": reply("The broadcast and its live counts.", ref("BroadcastSummary")), **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/messages": {"get": op(
        "listBroadcastMessages", "broadcasts", "A keyset page of the broadcast's messages", {
            "200": reply("One page; next_after is null on the last.", ref("MessagePage")),
            **fails("NotFound", "Unprocessable")})},
    "/v1/broadcasts/{broadcast_id}/report.csv": {"get": op(
        "downloadBroadcastReport", "broadcasts", "Every recipient's outcome as CSV, streamed", {
            "200": {"description": "One line per message, with a header row.",
                    "content": {"text/csv": {"schema": STRING}}}, **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/audit": {"get": op(
        "getBroadcastAudit", "broadcasts", "Every transition and operator action, in order", {
            "200": reply("The audit log.", ref("AuditLog")), **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/pause": lifecycle("pause", "Stop sending; claimed rows go back to pending"),
    "/v1/broadcasts/{broadcast_id}/resume": lifecycle(
        "resume", "Carry on from where the broadcast stopped; after gateway_down or gateway_rejected this also "
                  "closes the account's circuit breaker (fresh failures open it again)"),
    "/v1/broadcasts/{broadcast_id}/cancel": lifecycle("cancel", "Stop for good; unsent rows become cancelled"),
    "/v1/messages": {"post": op("createMessage", "messages", "Send one transactional message on the fast lane", {
        "202": reply("Accepted and queued.", ref("MessageAccepted"), LOCATION,
                     {"getMessage": link("getMessage", message_id="$response.body#/id")}),
        **fails("BadRequest", "PayloadTooLarge"), **unprocessable(
            "idempotency_key_reused", "invalid_phone_number", "recipient_opted_out", "missing_personalisation",
            "message_too_long", "invalid_template", "unknown_template", "channel_unavailable")},
        description="A number on the service's suppression list is 422 `recipient_opted_out`, unless `template` "
                    "names a saved template marked `service_critical` (sent and audited).")},
    "/v1/messages/{message_id}": {"get": op(
        "getMessage", "messages", "One message's status and timestamps", {
            "200": reply("The message.", ref("Message")), **fails("NotFound")})},
}
