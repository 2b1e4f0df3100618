"""The OpenAPI document's content part: templates, opt-outs, the inbound webhook and the dry run."""
from __future__ import annotations

from app.api.openapi_kit import (BOOLEAN, INTEGER, OBJECT, STRING, TIME, array, fails, link, nullable, obj, op, ref,
                                 reply, unprocessable)
from app.api.schema_text import text
from app.statuses import MessageStatus

TEMPLATE = obj({"name": STRING, "channel": STRING, "language": STRING, "version": INTEGER, "body": STRING,
                "service_critical": BOOLEAN, "created_by": STRING, "created_at": nullable(TIME)})
DRY_RUN = obj({
    "dry_run": BOOLEAN, "channel": STRING, "template": nullable(OBJECT), "transliterate": BOOLEAN,
    "recipients": INTEGER, "audience": INTEGER, MessageStatus.REJECTED: INTEGER,
    "rejected_by_reason": {"type": "object", "additionalProperties": INTEGER}, "duplicates": INTEGER,
    MessageStatus.OPTED_OUT: INTEGER, "encoding": {"type": ["string", "null"], "enum": ["GSM-7", "UCS-2", "mixed", None]},
    "encodings": {"type": "object", "additionalProperties": INTEGER},
    "ucs2_characters": array(obj({"character": STRING, "codepoint": STRING, "messages": INTEGER})),
    "segments_histogram": {"type": "object", "additionalProperties": INTEGER,
                           "description": "Messages per number of SMS parts."},
    "segments": INTEGER,
    "cost": obj({"currency": STRING, "total": STRING, "by_carrier": {"type": "object", "additionalProperties": obj({
        "messages": INTEGER, "segments": INTEGER, "price_per_segment": STRING, "cost": STRING})}}),
    "sample": array(obj({"to": STRING, "body": STRING, "segments": INTEGER, "encoding": STRING})),
}, "What the broadcast would send and cost; nothing is written.")

SCHEMAS = {
    "DryRun": DRY_RUN,
    "Template": TEMPLATE,
    "TemplateList": obj({"templates": array(ref("Template"))}),
    "TemplateVersions": obj({"name": STRING, "versions": array(ref("Template"))}),
    "OptOutState": obj(dict(channel=STRING, address=STRING, opted_out=BOOLEAN)),
    "OptOutList": {"oneOf": [
        obj({"opt_outs": array(obj({"channel": STRING, "address": STRING, "source": STRING, "created_at": TIME})),
             "next_after": nullable(STRING)}),
        obj({"history": array(obj({"channel": STRING, "address": STRING,
                                   "action": {**STRING, "enum": ["opt_out", "opt_in"]}, "source": STRING,
                                   "actor": STRING, "detail": nullable(STRING), "created_at": TIME}))})]},
    "InboundMessage": {**obj({name: text() for name in ("from", "to", "text", "date", "id", "linkId", "From", "To",
                                                         "Body", "MessageSid")},
                             "Africa's Talking posts from, to, text, date, id (and linkId); Twilio posts From, To, "
                             "Body, MessageSid, signed.", required=[]),
                       "propertyNames": text(), "additionalProperties": text()},
}

INBOUND_DONE = ("What each message did: its keyword's action and outcome (applied, unchanged, stale: a newer "
                "keyword is in force, duplicate: this gateway id was seen, unmapped, no_keyword).")
_INBOUND_ONE = {"action": {"type": ["string", "null"], "enum": ["opt_out", "opt_in", None]}, "outcome": STRING}
INBOUND_RESULT = obj({**_INBOUND_ONE, "messages": array(obj(_INBOUND_ONE))})
OPT_OUT_FAILS = {**fails("BadRequest"), **unprocessable("invalid_phone_number")}

PATHS = {
    "/v1/templates": {
        "post": op("saveTemplate", "templates", "Save a template: a new version each time", {
            "201": reply("The version just stored.", ref("Template"),
                         links={"getTemplate": link("getTemplate", name="$response.body#/name")}),
            **fails("BadRequest"), **unprocessable("invalid_template")}),
        "get": op("listTemplates", "templates", "The newest version of each template and language variant", {
            "200": reply("Templates.", ref("TemplateList")), **fails("Unprocessable")}),
    },
    "/v1/templates/{name}": {"get": op("getTemplate", "templates", "Every version of one template", {
        "200": reply("Versions per channel and language, newest first.", ref("TemplateVersions")),
        **fails("NotFound")})},
    "/v1/opt-outs": {
        "post": op("addOptOut", "opt-outs", "Suppress an address on a channel (audited)", {
            "201": reply("Suppressed.", ref("OptOutState")), "200": reply("Already suppressed.", ref("OptOutState")),
            **OPT_OUT_FAILS}),
        "delete": op("removeOptOut", "opt-outs", "Lift a suppression (audited)", {
            "200": reply("No longer suppressed.", ref("OptOutState")), **fails("NotFound"), **OPT_OUT_FAILS}),
        "get": op("listOptOuts", "opt-outs", "The suppression list, or with ?address= that address's audit trail", {
            "200": reply("A page of the list, or the history.", ref("OptOutList")),
            **fails("BadRequest", "Unprocessable")}),
    },
    "/webhooks/{account}/{secret}/inbound": {"post": op(
        "inboundWithSecret", "webhooks", "Inbound SMS of a gateway that does not sign (Africa's Talking form, "
        "Infobip JSON): STOP/START keywords", {
            "200": reply(INBOUND_DONE, INBOUND_RESULT),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The secret does not match the account's.", ref("Error"))}, public=True)},
    "/webhooks/{account}/inbound": {"post": op(
        "inboundSigned", "webhooks", "Inbound SMS of a signing gateway (Twilio, X-Twilio-Signature over the "
        "account's inbound_url): STOP/START keywords", {
            "200": reply(INBOUND_DONE + " Twilio is answered with empty TwiML.", INBOUND_RESULT),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The signature does not match the account.", ref("Error"))}, public=True)},
}
