"""The OpenAPI document's content part: templates, opt-outs, the inbound webhook and the dry run."""
from __future__ import annotations

from app.api.openapi_kit import (INTEGER, OBJECT, STRING, TIME, array, fails, json_content, limit, nullable, obj,
                                 op, ref, reply)

TEMPLATE_SYNTAX = ("((name)) placeholders; ((name??text)) gives text only when name is present and non-empty; "
                   "filters ((name|default:x)), ((name|truncate:n)), ((name|sub:a,b)) (cut text ends with an "
                   "ellipsis: '...' on SMS), ((name|upper)), ((name|lower)). An unknown filter or unbalanced "
                   "brackets is 422 with details.position.")
BROADCAST_EXTRAS = {
    "template_version": {**INTEGER, "minimum": 1, "description": "With a saved template's name: this version."},
    "language": {**STRING, "description": "With a saved template's name: this language variant."},
    "dry_run": {"type": "boolean", "default": False,
                "description": "Answer 200 with an estimate (audience, encoding, segments, cost) and write nothing."},
    "transliterate": {"type": "boolean", "default": False,
                      "description": "Replace smart quotes, dashes, ellipses and odd spaces with GSM-7 look-alikes."},
}
TEMPLATE = obj({"name": STRING, "channel": STRING, "language": STRING, "version": INTEGER, "body": STRING,
                "service_critical": {"type": "boolean"}, "created_by": STRING, "created_at": nullable(TIME)})
DRY_RUN = obj({
    "dry_run": {"type": "boolean"}, "channel": STRING, "template": nullable(OBJECT), "transliterate": {"type": "boolean"},
    "recipients": INTEGER, "audience": INTEGER, "rejected": INTEGER,
    "rejected_by_reason": {"type": "object", "additionalProperties": INTEGER}, "duplicates": INTEGER,
    "opted_out": INTEGER, "encoding": {"type": ["string", "null"], "enum": ["GSM-7", "UCS-2", "mixed", None]},
    "encodings": {"type": "object", "additionalProperties": INTEGER},
    "ucs2_characters": array(obj({"character": STRING, "codepoint": STRING, "messages": INTEGER})),
    "segments_histogram": {"type": "object", "additionalProperties": INTEGER,
                           "description": "Messages per number of SMS parts."},
    "segments": INTEGER,
    "cost": obj({"currency": STRING, "total": STRING, "by_carrier": {"type": "object", "additionalProperties": obj({
        "messages": INTEGER, "segments": INTEGER, "price_per_segment": STRING, "cost": STRING})}}),
    "sample": array(obj({"to": STRING, "body": STRING, "segments": INTEGER, "encoding": STRING})),
}, "What the broadcast would send and cost; nothing is written.")

CONTENT_SCHEMAS = {
    "DryRun": DRY_RUN,
    "TemplateRequest": obj({"name": {**STRING, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"},
                            "channel": {**STRING, "enum": ["sms", "whatsapp", "email", "inbox", "webhook"],
                                        "default": "sms"},
                            "language": {**nullable(STRING), "pattern": "^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$",
                                         "description": "'' or null (default) or a language code: en, bem, nya."},
                            "body": {**STRING, "minLength": 1, "description": TEMPLATE_SYNTAX},
                            "service_critical": {"type": "boolean", "default": False, "description": (
                                "A one-time code or an account alert: a transactional message by this "
                                "template may reach a number on the suppression list (SMS only); audited.")}},
                           required=["name", "body"]),
    "Template": TEMPLATE,
    "TemplateList": obj({"templates": array(ref("Template"))}),
    "TemplateVersions": obj({"name": STRING, "versions": array(ref("Template"))}),
    "OptOutRequest": obj({"channel": {**STRING, "enum": ["sms", "whatsapp", "email", "inbox", "webhook"],
                                      "default": "sms"},
                          "address": {**STRING, "examples": ["+260961000001"]},
                          "reason": {**nullable(STRING), "maxLength": 500}}, required=["address"]),
    "OptOutState": obj({"channel": STRING, "address": STRING, "opted_out": {"type": "boolean"}}),
    "OptOutList": {"oneOf": [
        obj({"opt_outs": array(obj({"channel": STRING, "address": STRING, "source": STRING, "created_at": TIME})),
             "next_after": nullable(STRING)}),
        obj({"history": array(obj({"channel": STRING, "address": STRING,
                                   "action": {**STRING, "enum": ["opt_out", "opt_in"]}, "source": STRING,
                                   "actor": STRING, "detail": nullable(STRING), "created_at": TIME}))})]},
    "InboundMessage": obj({"from": STRING, "to": STRING, "text": STRING, "date": STRING, "id": STRING,
                           "linkId": STRING}, required=["from"]),
}

INBOUND_DONE = ("What each message did: its keyword's action and outcome (applied, unchanged, stale: a newer "
                "keyword is in force, duplicate: this gateway id was seen, unmapped, no_keyword).")
_INBOUND_ONE = {"action": {"type": ["string", "null"], "enum": ["opt_out", "opt_in", None]}, "outcome": STRING}
INBOUND_RESULT = obj({**_INBOUND_ONE, "messages": array(obj(_INBOUND_ONE))})

CONTENT_PATHS = {
    "/v1/templates": {
        "post": op("saveTemplate", "templates", "Save a template: a new version each time", {
            "201": reply("The version just stored.", ref("Template")),
            **fails("BadRequest", "Unprocessable")},
            requestBody={"required": True, "content": json_content(ref("TemplateRequest"))}),
        "get": op("listTemplates", "templates", "The newest version of each template and language variant", {
            "200": reply("Templates.", ref("TemplateList")), **fails("Unprocessable")}, parameters=[limit(100, 1000)]),
    },
    "/v1/templates/{name}": {"get": op("getTemplate", "templates", "Every version of one template", {
        "200": reply("Versions per channel and language, newest first.", ref("TemplateVersions")),
        **fails("BadRequest", "NotFound")},
        parameters=[{"name": "name", "in": "path", "required": True, "schema": STRING}])},
    "/v1/opt-outs": {
        "post": op("addOptOut", "opt-outs", "Suppress an address on a channel (audited)", {
            "201": reply("Suppressed.", ref("OptOutState")), "200": reply("Already suppressed.", ref("OptOutState")),
            **fails("BadRequest", "Unprocessable")},
            requestBody={"required": True, "content": json_content(ref("OptOutRequest"))}),
        "delete": op("removeOptOut", "opt-outs", "Lift a suppression (audited)", {
            "200": reply("No longer suppressed.", ref("OptOutState")),
            **fails("BadRequest", "NotFound", "Unprocessable")},
            requestBody={"required": True, "content": json_content(ref("OptOutRequest"))}),
        "get": op("listOptOuts", "opt-outs", "The suppression list, or with ?address= that address's audit trail", {
            "200": reply("A page of the list, or the history.", ref("OptOutList")),
            **fails("BadRequest", "Unprocessable")}, parameters=[
            {"name": "channel", "in": "query", "schema": STRING}, {"name": "address", "in": "query", "schema": STRING},
            {"name": "after", "in": "query", "schema": STRING, "description": "The last address of the previous page."},
            limit(100, 1000)]),
    },
    "/webhooks/{account}/{secret}/inbound": {"post": op(
        "inboundWithSecret", "webhooks", "Inbound SMS of a gateway that does not sign (Africa's Talking form, "
        "Infobip JSON): STOP/START keywords", {
            "200": reply(INBOUND_DONE, INBOUND_RESULT),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The secret does not match the account's.", ref("Error"))}, public=True,
        parameters=[{"name": "account", "in": "path", "required": True, "schema": STRING,
                     "description": "A configured gateway account; any other is 404."},
                    {"name": "secret", "in": "path", "required": True, "schema": STRING,
                     "description": "The account's webhook_secret; any other value is 403."}],
        requestBody={"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": ref("InboundMessage")},
            "application/json": {"schema": {"type": "object"}}}})},
    "/webhooks/{account}/inbound": {"post": op(
        "inboundSigned", "webhooks", "Inbound SMS of a signing gateway (Twilio, X-Twilio-Signature over the "
        "account's inbound_url): STOP/START keywords", {
            "200": reply(INBOUND_DONE + " Twilio is answered with empty TwiML.", INBOUND_RESULT),
            **fails("BadRequest", "NotFound", "PayloadTooLarge"),
            "403": reply("The signature does not match the account.", ref("Error"))}, public=True,
        parameters=[{"name": "account", "in": "path", "required": True, "schema": STRING,
                     "description": "A configured gateway account; any other is 404."}],
        requestBody={"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}})},
}
