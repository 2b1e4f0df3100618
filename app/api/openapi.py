"""GET /openapi.json: the public API as an OpenAPI 3.1 document, written as Python data."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.api.openapi_accounts import ACCOUNT_PATHS, ACCOUNT_SCHEMAS, SUMMARY_FIELDS
from app.api.openapi_audiences import AUDIENCE_FIELDS, CONTACT, CONTACT_PATCH, FILTER, SEGMENT
from app.api.openapi_content import BROADCAST_EXTRAS, CONTENT_PATHS, CONTENT_SCHEMAS
from app.api.openapi_kit import (ERRORS, INTEGER, MONEY, NUMBER, OBJECT, STRING, TIME, array, closed, fails,
                                 json_content, limit, nullable, obj, op, param, ref, reply)
from app.api.params import BIGINT_MAX
from app.services.intake.broadcast_request import MAX_RATE_PER_SECOND, MAX_REASON_CHARS, MIN_RATE_PER_SECOND
from app.statuses import ALL_MESSAGE_STATUSES, BroadcastStatus, PausedReason

bp = Blueprint("openapi", __name__)

SEND_WINDOW = obj({"start": {**STRING, "examples": ["08:00"]}, "end": {**STRING, "examples": ["20:00"]},
                   "timezone": {**nullable(STRING), "description": "IANA zone; defaults to the recipients' own."}},
                  "Send only between two local times of day.", required=["start", "end"])
SPEC_FIELDS = {
    "channel": {**STRING, "enum": ["sms"]},
    "body": {**STRING, "minLength": 1, "description": "Message text; ((name)) placeholders are personalised."},
    "template": {**STRING, "description": "The name of a saved template (its newest version unless "
                                          "template_version says otherwise), or the text itself as body."},
    "sender": {**STRING, "pattern": "^[A-Za-z0-9]{1,11}$"},
    "priority": {**STRING, "enum": ["normal"], "default": "normal"},
    "rate_limit_per_second": {"type": ["number", "null"], "minimum": float(MIN_RATE_PER_SECOND),
                              "maximum": float(MAX_RATE_PER_SECOND)},
    "scheduled_for": {**nullable(TIME), "description": "Start time with a UTC offset, not in the past."},
}
BROADCAST_FIELDS = {
    "id": {**STRING, "format": "uuid"}, "status": {**STRING, "enum": [s.value for s in BroadcastStatus]},
    "paused_reason": {"type": ["string", "null"], "enum": [r.value for r in PausedReason] + [None],
                      "description": "operator; quota (resumes at the window reset); gateway_down (resumes by "
                                     "itself once the gateway answers again); gateway_rejected (credentials or "
                                     "URL refused: waits for an operator's resume)."},
    "channel": STRING, "provider": STRING, "body": STRING, "sender": nullable(STRING), "priority": STRING,
    "rate_limit_per_second": nullable(NUMBER), "scheduled_for": nullable(TIME), "send_window": {
        "oneOf": [SEND_WINDOW, {"type": "null"}]},
    "waiting_for_window": {"type": "boolean"}, "window_opens_at": TIME,
    "recipients": INTEGER, "accepted": INTEGER, "rejected": INTEGER, "duplicates": INTEGER,
    "audience": {**INTEGER, "description": "Contacts a segment or filter broadcast addresses (only on its 202); "
                                          "accepted and rejected grow as the producer resolves them."},
    "created_at": nullable(TIME), "started_at": nullable(TIME), "finished_at": nullable(TIME),
}
# The two window fields appear only when the broadcast has a sending window.
BROADCAST = obj(BROADCAST_FIELDS, "A broadcast's own fields.",
                required=[k for k in BROADCAST_FIELDS if k not in ("waiting_for_window", "window_opens_at", "audience")])
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
MESSAGE = obj({"id": INTEGER, "to": STRING, "broadcast_id": nullable({**STRING, "format": "uuid"}),
               **DELIVERY_FIELDS})
# The dead-letter actions refuse any field they do not name (422), so their bodies are closed.
DEAD_LETTER_FILTER = {"broadcast_id": {**STRING, "format": "uuid"},
                      "reason": {**STRING, "enum": ["permanent_error", "attempts_exhausted", "outcome_unknown"]}}
SCHEMAS = {
    "Error": obj({"error": obj({"code": {**STRING, "examples": ["validation_failed"]}, "message": STRING,
                                "details": {**OBJECT, "description": "e.g. {\"field\": \"recipients[3].to\"}"}})}),
    "Recipient": obj({"to": {**STRING, "examples": ["+260961000001"]},
                      "personalisation": {**nullable(OBJECT), "additionalProperties": True}}, required=["to"]),
    "BroadcastRequest": obj({**SPEC_FIELDS, **BROADCAST_EXTRAS, "send_window": SEND_WINDOW,
                             "recipients": array(ref("Recipient")), **AUDIENCE_FIELDS},
                            "Give `recipients`, or an audience of contacts: `segment` or `filter`.",
                            required=["channel"]),
    **CONTENT_SCHEMAS,
    **ACCOUNT_SCHEMAS,
    "BroadcastUpload": obj({
        **{k: STRING for k in SPEC_FIELDS}, "file": {**STRING, "contentMediaType": "text/csv", "description":
                                                    "UTF-8 CSV with a to/phone number/msisdn column; "
                                                    "other columns personalise."}},
        "Multipart form: the same fields as text, plus the CSV.", required=["channel", "file"]),
    "Broadcast": BROADCAST,
    "Contact": CONTACT,
    "ContactPage": obj({"contacts": array(ref("Contact")), "next_after": nullable(INTEGER)}),
    "ContactPatch": CONTACT_PATCH,
    "ContactImport": obj({"file": {**STRING, "contentMediaType": "text/csv", "description":
                                   "UTF-8 CSV: external_id, phone, email, whatsapp, inbox_user_id, language, "
                                   "consent_<channel>, consent_source, consent_at, attributes (JSON); any other "
                                   "column is an attribute. A text/csv body is accepted too."}}),
    "ContactImportReport": obj({"rows": INTEGER, "created": INTEGER, "updated": INTEGER, "rejected": INTEGER,
                                "rejects": array(obj({"line": INTEGER, "field": nullable(STRING), "reason": STRING})),
                                "rejects_truncated": {"type": "boolean"}}),
    "ContactErased": obj({"external_id": STRING, "deleted": {"type": "boolean"}, "messages_erased": INTEGER,
                          "receipt": ref("ErasureReceipt")}),
    "ErasureReceipt": obj({
        "external_id": STRING, "erased_at": {**STRING, "format": "date-time"}, "contact_deleted": {"type": "boolean"},
        "messages_tombstoned": INTEGER, "messages_cancelled": INTEGER, "reports_scrubbed": INTEGER,
        "dead_letters_closed": INTEGER, "suppressions_pseudonymised": INTEGER,
        "opt_out_events_pseudonymised": INTEGER, "inbound_keywords_pseudonymised": INTEGER, "kept_why": STRING},
        "What the erasure removed and kept, also written to the audit log; it never holds the address."),
    "Segment": SEGMENT,
    "SegmentRequest": obj({"name": {**STRING, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"}, "filter": FILTER}),
    "SegmentList": obj({"segments": array(ref("Segment"))}),
    "SegmentCount": obj({"name": STRING, "count": INTEGER}),
    "SegmentDeleted": obj({"name": STRING, "deleted": {"type": "boolean"}}),
    "BroadcastList": obj({"broadcasts": array(ref("Broadcast"))}),
    "CarrierCounts": CARRIER,
    "BroadcastSummary": SUMMARY,
    "MessageRow": obj({"id": INTEGER, "recipient": STRING, "route": nullable(STRING), "provider": STRING,
                       **DELIVERY_FIELDS}),
    "MessagePage": obj({"messages": array(ref("MessageRow")), "next_after": nullable(INTEGER)}),
    "AuditLog": obj({"audit": array(obj({
        "at": TIME, "actor": STRING, "action": STRING, "from_status": nullable(STRING),
        "to_status": nullable(STRING), "reason": nullable(STRING), "details": nullable(OBJECT)}))}),
    "LifecycleRequest": obj({"reason": {**nullable(STRING), "maxLength": MAX_REASON_CHARS}},
                            "Optional note kept in the audit log.", required=[]),
    "DeadLetter": obj({"id": INTEGER, "message_id": INTEGER, "broadcast_id": nullable({**STRING, "format": "uuid"}),
                       "recipient": STRING, "carrier": nullable(STRING), "reason": STRING,
                       "error_code": nullable(STRING), "error_detail": nullable(STRING),
                       "attempts": INTEGER, "created_at": TIME}),
    "DeadLetterPage": obj({"dead_letters": array(ref("DeadLetter")), "next_after": nullable(INTEGER)}),
    "Resolution": obj({"id": INTEGER, "resolution": {**STRING, "enum": ["requeued", "discarded"]}}),
    "ForceRequest": closed({"force": {"type": "boolean", "description": "Required to requeue an outcome_unknown "
                                      "entry: the gateway may already have it, so it may be sent twice."}}),
    "DeadLetterFilter": closed(DEAD_LETTER_FILTER),
    "RequeueFilter": closed({**DEAD_LETTER_FILTER, "force": {
        "type": "boolean", "description": "Accept resending outcome_unknown entries."}}),
    "BulkRequeued": obj({"requeued": INTEGER, "skipped": INTEGER, "broadcast_ids": array({**STRING, "format": "uuid"})},
                        required=["requeued", "skipped", "broadcast_ids"]),
    "BulkDiscarded": obj({"discarded": INTEGER}, required=["discarded"]),
    "MessageRequest": obj({"channel": {**STRING, "enum": ["sms"], "default": "sms"}, "to": STRING,
                           "body": SPEC_FIELDS["body"], "template": SPEC_FIELDS["template"],
                           "priority": {**STRING, "enum": ["asap"], "default": "asap"},
                           "template_version": {**INTEGER, "minimum": 1}, "language": STRING,
                           "personalisation": nullable(OBJECT)}, required=["to"]),
    "Message": MESSAGE,
    "MessageAccepted": {"allOf": [ref("Message"), obj({"queue_position": {
        **INTEGER, "description": "Due transactional messages ahead of this one."}})]},
    "Quotas": obj({"quotas": array(obj({"scope": {**STRING, "examples": ["service:3", "provider:africastalking"]},
                                        "limit": INTEGER, "used": INTEGER, "remaining": INTEGER,
                                        "window_start": TIME, "resets_at": TIME}))}),
    "Health": obj({"status": {**STRING, "enum": ["ok", "degraded"]},
                   "checks": obj({"postgresql": STRING, "redis": STRING})}),
    "DeliveryReport": obj({"id": STRING, "status": {**STRING, "examples": ["Success", "Failed"]},
                           "failureReason": STRING, "networkCode": STRING}, required=["id", "status"]),
}
PARAMETERS = {
    "BroadcastId": {"name": "broadcast_id", "in": "path", "required": True, "schema": {**STRING, "format": "uuid"}},
    "ExternalId": {"name": "external_id", "in": "path", "required": True, "schema": {**STRING, "minLength": 1}},
    "SegmentName": {"name": "name", "in": "path", "required": True, "schema": {**STRING, "minLength": 1}},
    "DeadLetterId": {"name": "dead_letter_id", "in": "path", "required": True, "schema": INTEGER},
    "MessageId": {"name": "message_id", "in": "path", "required": True, "schema": INTEGER},
    "After": {"name": "after", "in": "query", "description": "Keyset cursor: the last id of the previous page.",
              "schema": {**INTEGER, "minimum": 0, "maximum": BIGINT_MAX, "default": 0}},
    "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "schema": {**STRING, "minLength": 1,
                                                                           "maxLength": 255},
                       "description": "Repeat a request safely: the same key and body replay the first answer; "
                                      "the same key with another body is 422."},
}
LOCATION = {"Location": {"schema": STRING, "description": "Where to read the created resource."},
            "Idempotent-Replayed": {"schema": {**STRING, "enum": ["true"]},
                                    "description": "Present when the answer replays an earlier request."}}
CHALLENGE = {"WWW-Authenticate": {"schema": {**STRING, "examples": ['Bearer realm="herald"']},
                                  "description": "The scheme to authenticate with."}}
ACCOUNT_PARAM = {"name": "account", "in": "path", "required": True, "schema": STRING,
                 "description": "A configured gateway account (HERALD_ACCOUNTS); any other name is 404."}
# Africa's Talking and Twilio post forms, Infobip posts JSON {"results": [...]}.
WEBHOOK_CONTENT = {"application/x-www-form-urlencoded": {"schema": ref("DeliveryReport")},
                   "application/json": {"schema": {"type": "object"}}}
LIFECYCLE_BODY = {"required": False, "content": json_content(ref("LifecycleRequest"))}


def lifecycle(verb: str, summary: str) -> dict:
    """POST /v1/broadcasts/{id}/<verb>: 200 with the broadcast, 409 when its status forbids it."""
    return {"parameters": [param("BroadcastId")], "post": op(
        f"{verb}Broadcast", "broadcasts", summary, {"200": reply("The broadcast after the move.", ref("Broadcast")),
                                                     **fails("BadRequest", "NotFound", "Conflict", "Unprocessable")},
        requestBody=LIFECYCLE_BODY)}


def resolve(verb: str, summary: str) -> dict:
    """POST /v1/dead-letters/{id}/<verb>."""
    return {"parameters": [param("DeadLetterId")], "post": op(
        f"{verb}DeadLetter", "dead-letters", summary,
        {"200": reply("The entry is resolved.", ref("Resolution")),
         **fails("BadRequest", "NotFound", "Conflict", "Unprocessable")},
        requestBody={"required": False, "content": json_content(ref("ForceRequest"))})}


def resolve_many(verb: str, summary: str, answer: str, request: str) -> dict:
    """POST /v1/dead-letters/<verb>: every open entry matching the filter."""
    return {"post": op(f"{verb}DeadLetters", "dead-letters", summary,
                       {"200": reply("What was resolved.", ref(answer)),
                        **fails("BadRequest", "NotFound", "Conflict", "Unprocessable")},
                       requestBody={"required": False, "content": json_content(ref(request))})}


PATHS = {
    "/v1/broadcasts": {
        "post": op("createBroadcast", "broadcasts", "Accept a broadcast (JSON or a multipart CSV upload)", {
            "202": reply("Accepted; sending starts unless scheduled.", ref("Broadcast"), LOCATION),
            "200": reply("A dry run's estimate (dry_run: true); nothing was written.", ref("DryRun")),
            **fails("BadRequest", "PayloadTooLarge", "Unprocessable")}, parameters=[param("IdempotencyKey")],
            requestBody={"required": True, "content": {
                **json_content(ref("BroadcastRequest")),
                "multipart/form-data": {"schema": ref("BroadcastUpload"),
                                        "encoding": {"file": {"contentType": "text/csv"}}}}}),
        "get": op("listBroadcasts", "broadcasts", "This service's broadcasts, newest first", {
            "200": reply("Broadcasts without per-message counts.", ref("BroadcastList")), **fails("Unprocessable")},
            parameters=[limit(50, 500)]),
    },
    "/v1/broadcasts/{broadcast_id}": {"parameters": [param("BroadcastId")], "get": op(
        "getBroadcast", "broadcasts", "Status, counts per status and carrier, cost, send rate and ETA", {
            "200": reply("The broadcast and its live counts.", ref("BroadcastSummary")), **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/messages": {"parameters": [param("BroadcastId")], "get": op(
        "listBroadcastMessages", "broadcasts", "A keyset page of the broadcast's messages", {
            "200": reply("One page; next_after is null on the last.", ref("MessagePage")),
            **fails("NotFound", "Unprocessable")}, parameters=[
            {"name": "status", "in": "query", "schema": MESSAGE_STATUS}, param("After"), limit(100, 1000)])},
    "/v1/broadcasts/{broadcast_id}/report.csv": {"parameters": [param("BroadcastId")], "get": op(
        "downloadBroadcastReport", "broadcasts", "Every recipient's outcome as CSV, streamed", {
            "200": {"description": "One line per message, with a header row.",
                    "content": {"text/csv": {"schema": STRING}}}, **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/audit": {"parameters": [param("BroadcastId")], "get": op(
        "getBroadcastAudit", "broadcasts", "Every transition and operator action, in order", {
            "200": reply("The audit log.", ref("AuditLog")), **fails("NotFound")})},
    "/v1/broadcasts/{broadcast_id}/pause": lifecycle("pause", "Stop sending; claimed rows go back to pending"),
    "/v1/broadcasts/{broadcast_id}/resume": lifecycle(
        "resume", "Carry on from where the broadcast stopped; after gateway_down or gateway_rejected this also "
                  "closes the account's circuit breaker (fresh failures open it again)"),
    "/v1/broadcasts/{broadcast_id}/cancel": lifecycle("cancel", "Stop for good; unsent rows become cancelled"),
    "/v1/contacts/import": {"post": op("importContacts", "contacts", "Upsert contacts by external id from a CSV", {
        "200": reply("Imported; rejected rows are listed by line, field and reason.", ref("ContactImportReport")),
        **fails("BadRequest", "PayloadTooLarge", "Unprocessable")}, requestBody={"required": True, "content": {
            "multipart/form-data": {"schema": ref("ContactImport"), "encoding": {"file": {"contentType": "text/csv"}}}}})},
    "/v1/contacts/export": {"get": op("exportContacts", "contacts", "Every contact as CSV, streamed", {
        "200": {"description": "The import's own columns, attributes as JSON.",
                "content": {"text/csv": {"schema": STRING}}}})},
    "/v1/contacts": {"get": op("listContacts", "contacts", "A keyset page of contacts", {
        "200": reply("One page; next_after is null on the last.", ref("ContactPage")), **fails("Unprocessable")},
        parameters=[param("After"), limit(100, 1000)])},
    "/v1/contacts/{external_id}": {"parameters": [param("ExternalId")], "get": op(
        "getContact", "contacts", "One contact", {"200": reply("The contact.", ref("Contact")), **fails("NotFound")}),
        "patch": op("updateContact", "contacts", "Change addresses, language, attributes or consent", {
            "200": reply("The contact after the change.", ref("Contact")),
            **fails("BadRequest", "NotFound", "Unprocessable")},
            requestBody={"required": True, "content": json_content(ref("ContactPatch"))}),
        "delete": op("deleteContact", "contacts", "Delete the contact and erase their addresses from messages and reports",
                     {"200": reply("Erased; message counts are kept; the receipt says what was removed and kept.",
                                   ref("ContactErased")), **fails("NotFound")})},
    "/v1/segments": {
        "post": op("createSegment", "segments", "Save a contact filter by name", {
            "201": reply("Saved.", ref("Segment")), **fails("BadRequest", "Conflict", "Unprocessable")},
            requestBody={"required": True, "content": json_content(ref("SegmentRequest"))}),
        "get": op("listSegments", "segments", "Every saved segment", {"200": reply("By name.", ref("SegmentList"))})},
    "/v1/segments/{name}": {"parameters": [param("SegmentName")], "get": op(
        "getSegment", "segments", "One saved segment", {"200": reply("The segment.", ref("Segment")),
                                                         **fails("NotFound")}),
        "delete": op("deleteSegment", "segments", "Forget a segment (broadcasts keep their own copy)", {
            "200": reply("Deleted.", ref("SegmentDeleted")), **fails("NotFound")})},
    "/v1/segments/{name}/count": {"parameters": [param("SegmentName")], "get": op(
        "countSegment", "segments", "How many contacts the segment selects now", {
            "200": reply("The count.", ref("SegmentCount")), **fails("NotFound", "Unprocessable")})},
    "/v1/dead-letters": {"get": op("listDeadLetters", "dead-letters", "Open dead letters, oldest first", {
        "200": reply("One page; next_after is null on the last.", ref("DeadLetterPage")),
        **fails("NotFound", "Unprocessable")}, parameters=[
        param("After"), limit(100, 1000),
        {"name": "broadcast_id", "in": "query", "schema": {**STRING, "format": "uuid"},
         "description": "Only this broadcast's entries (404 if it is not a UUID)."}])},
    "/v1/dead-letters/requeue": resolve_many("requeue", "Requeue every open entry of a broadcast and/or reason",
                                             "BulkRequeued", "RequeueFilter"),
    "/v1/dead-letters/discard": resolve_many("discard", "Discard every open entry of a broadcast and/or reason",
                                             "BulkDiscarded", "DeadLetterFilter"),
    "/v1/dead-letters/{dead_letter_id}/requeue": resolve("requeue", "Send the message again, with fresh attempts"),
    "/v1/dead-letters/{dead_letter_id}/discard": resolve("discard", "Close the entry; the message stays failed"),
    "/v1/messages": {"post": op("createMessage", "messages", "Send one transactional message on the fast lane", {
        "202": reply("Accepted and queued.", ref("MessageAccepted"), LOCATION),
        **fails("BadRequest", "PayloadTooLarge", "Unprocessable")}, parameters=[param("IdempotencyKey")],
        description="A number on the service's suppression list is 422 `recipient_opted_out`, unless `template` "
                    "names a saved template marked `service_critical` (sent and audited).",
        requestBody={"required": True, "content": json_content(ref("MessageRequest"))})},
    "/v1/messages/{message_id}": {"parameters": [param("MessageId")], "get": op(
        "getMessage", "messages", "One message's status and timestamps", {
            "200": reply("The message.", ref("Message")), **fails("NotFound")})},
    "/v1/quotas": {"get": op("getQuotas", "quotas", "Limit, used, remaining and reset time of each quota", {
        "200": reply("Every quota the service sends under.", ref("Quotas"))})},
    "/webhooks/{account}": {"post": op(
        "deliveryReport", "webhooks", "Delivery report callback of a signing gateway (Twilio)", {
            "200": reply("Stored (false when every report is a repeat).", obj({"stored": {"type": "boolean"}})),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The signature does not match the account.", ref("Error"))}, public=True,
        parameters=[ACCOUNT_PARAM],
        requestBody={"required": True, "content": WEBHOOK_CONTENT})},
    "/webhooks/{account}/{secret}": {"post": op(
        "deliveryReportWithSecret", "webhooks", "Delivery report callback of a gateway that does not sign "
        "(Africa's Talking, Infobip)", {
            "200": reply("Stored (false when every report is a repeat).", obj({"stored": {"type": "boolean"}})),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The secret does not match the account's.", ref("Error"))}, public=True,
        parameters=[ACCOUNT_PARAM, {"name": "secret", "in": "path", "required": True, "schema": STRING,
                                    "description": "The account's webhook_secret; any other value is 403."}],
        requestBody={"required": True, "content": WEBHOOK_CONTENT})},
    **CONTENT_PATHS,
    **ACCOUNT_PATHS,
    "/healthz": {"get": op("healthz", "operations", "Liveness: PostgreSQL and Redis answer", {
        "200": reply("Both stores answer.", ref("Health")),
        "503": reply("A store does not answer; checks names it.", ref("Health"))}, public=True)},
    "/metrics": {"get": {**op("metrics", "operations", "Prometheus metrics, computed at scrape time", {
        "200": {"description": "Prometheus text exposition format 0.0.4.",
                "content": {"text/plain; version=0.0.4": {"schema": STRING}}}, **fails("Unauthorized")}),
        "description": "No key from this host (loopback, not through a proxy); from anywhere else the "
                       "HERALD_METRICS_TOKEN as a bearer token, else 401.",
        "security": [{}, {"metricsToken": []}]}},
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Herald", "version": "1.0",
                 "description": "Bulk and transactional messaging. Every error answers with "
                                "{\"error\": {\"code\", \"message\", \"details\"}}."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in ("broadcasts", "contacts", "segments", "templates", "opt-outs",
                                             "dead-letters", "messages", "quotas", "webhooks", "operations")],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key from `flask herald create-service`."},
                                "metricsToken": {"type": "http", "scheme": "bearer",
                                                 "description": "HERALD_METRICS_TOKEN, for scrapes from another host."}},
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": {name: reply(text, ref("Error"), CHALLENGE if status == 401 else None)
                          for name, (status, text) in ERRORS.items()},
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI document (no auth: it describes, it reveals nothing)."""
    return jsonify(document())
