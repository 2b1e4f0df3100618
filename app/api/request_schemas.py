"""Every JSON request body the API takes, declared once: `JsonBody(<name>)` checks a request against
it and /openapi.json publishes it under components.schemas.<name>.

Objects are closed (422 naming an unknown field) where the code refuses unknown fields, and open
otherwise, their extra fields holding any storable JSON the code ignores.
"""
from __future__ import annotations

import zoneinfo

from app.api.contract import define, ref
from app.api.filter_schema import define_filter
from app.api.schema_text import (ANY_JSON, BLANK_CLASS, BLANK_ONLY, BOOLEAN, DATE_TIME, MAX_BODY_CHARS,
                                 MAX_RECIPIENTS, NAME, STORABLE_JSON, UUID, choice, integer, matching, nullable,
                                 record, text, words)
from app.services.channels import registry
from app.services.intake.broadcast_request import (BROADCAST_PRIORITIES, MAX_RATE_PER_SECOND, MAX_REASON_CHARS,
                                                   MIN_RATE_PER_SECOND)
from app.services.audience.contacts_fields import CHANNELS as CONTACT_CHANNELS
from app.services.audience.contacts_fields import MAX_VALUE_CHARS

_B = BLANK_CLASS  # blanks a contact field may carry around its value (they are trimmed)
DEAD_LETTER_REASONS = ("permanent_error", "attempts_exhausted", "outcome_unknown")
TEMPLATE_SYNTAX = ("((name)) placeholders; ((name??text)) gives text only when name is present and non-empty; "
                   "filters ((name|default:x)), ((name|truncate:n)), ((name|sub:a,b)) (cut text ends with an "
                   "ellipsis: '...' on SMS), ((name|upper)), ((name|lower)). A text that does not compile is "
                   "422 invalid_template with details.position.")
STORABLE_VALUE = define("StorableJson", STORABLE_JSON)
FILTER = define_filter()
PERSONALISATION = {"type": ["object", "null"], "propertyNames": text(), "additionalProperties": ANY_JSON,
                   "description": "Values for the text's ((placeholders)), by name."}
BODY = words("Message text; ((name)) placeholders are personalised. " + TEMPLATE_SYNTAX, maxLength=MAX_BODY_CHARS)
TEMPLATE = words("The name of a saved template (its newest version unless template_version says otherwise; "
                 "none by that name is 422 unknown_template), or the text itself as body.", maxLength=MAX_BODY_CHARS)
TEMPLATE_VERSION = integer(1, description="With a saved template's name: this version.")
LANGUAGE = nullable(text("With a saved template's name: this language variant."))
SENDER_TEXT = matching("^[A-Za-z0-9]{1,11}$", "must be 1-11 ASCII letters or digits")
SENDER = nullable(SENDER_TEXT)
CLOCK = matching("^([01][0-9]|2[0-3]):[0-5][0-9]$", "must be a time of day like 08:00")
RATE = {"type": ["number", "null"], "minimum": float(MIN_RATE_PER_SECOND), "maximum": float(MAX_RATE_PER_SECOND),
        "description": "Messages per second at most for this broadcast."}
SCHEDULED_FOR = nullable({**DATE_TIME, "description": "Start time with a UTC offset; a time already past is 422 "
                                                      "scheduled_in_past."})
SPEC_FIELDS = {"channel": choice(registry.sendable()), "body": BODY, "template": TEMPLATE, "sender": SENDER,
               "priority": {**nullable(choice(sorted(BROADCAST_PRIORITIES))), "default": "normal"},
               "rate_limit_per_second": RATE, "scheduled_for": SCHEDULED_FOR}
BODY_OR_TEMPLATE = [{"required": ["body"]}, {"required": ["template"]}]
# Form fields are text: present or absent, never null; a number travels in its JSON spelling.
FORM_FIELDS = {"channel": SPEC_FIELDS["channel"], "body": BODY, "template": TEMPLATE,
               "sender": SENDER_TEXT,
               "priority": choice(sorted(BROADCAST_PRIORITIES)), "scheduled_for": {**SCHEDULED_FOR, "type": "string"},
               "rate_limit_per_second": {
                   "anyOf": [{**RATE, "type": "number"}, {"type": "string", "pattern": BLANK_ONLY}],
                   "description": "Messages per second at most; blank for no limit."}}
CSV_FILE = text("UTF-8 CSV with a to/phone number/msisdn column; other columns personalise. A file without "
                "such a column or without rows is 422 invalid_csv.", contentMediaType="text/csv")

define("Recipient", record({"to": text("A phone number; one that is not a mobile number is counted as rejected.",
                                       examples=["+260961000001"]),
                            "personalisation": PERSONALISATION}, required=["to"]))
define("SendWindow", record(
    {"start": {**CLOCK, "examples": ["08:00"]}, "end": {**CLOCK, "examples": ["20:00"]},
     "timezone": {**nullable(choice(sorted(zoneinfo.available_timezones()))),
                  "description": "IANA zone; without one, the recipients' own (422 timezone_required if "
                                 "they span several)."}},
    required=["start", "end"], description="Send only between two local times of day (start and end differ, "
                                           "else 422 empty_send_window)."))
define("BroadcastRequest", record(
    {**SPEC_FIELDS, "template_version": TEMPLATE_VERSION, "language": LANGUAGE,
     "dry_run": {**BOOLEAN, "default": False, "description": "Answer 200 with an estimate and write nothing."},
     "transliterate": {**BOOLEAN, "default": False,
                       "description": "Replace smart quotes, dashes, ellipses and odd spaces with GSM-7 look-alikes."},
     "send_window": {"anyOf": [ref("SendWindow"), {"type": "null"}]},
     "recipients": {"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS, "items": ref("Recipient"),
                    "description": "More than HERALD_MAX_RECIPIENTS is 413."},
     "segment": text("A saved segment's name (none by that name is 422 unknown_segment)."),
     "filter": {**FILTER, "description": "An inline contact filter."},
     "exclude_received": nullable({**UUID, "description": (
         "Leave out contacts whose phone was sent (or delivered) that broadcast of this service (else 422 "
         "unknown_broadcast).")})},
    required=["channel"], oneOf=[{"required": ["recipients"]}, {"required": ["segment"]}, {"required": ["filter"]}],
    anyOf=BODY_OR_TEMPLATE, dependentSchemas={"exclude_received": {
        "not": {"required": ["recipients"]},
        "description": "exclude_received goes with a segment or filter, not with recipients"}},
    description="Give `recipients`, or an audience of contacts: `segment` or `filter`; and `body` or `template`.",
    examples=[{"channel": registry.DEFAULT, "body": "Rain expected tomorrow, ((name))",
               "recipients": [{"to": "+260961000001", "personalisation": {"name": "Bwalya"}}]}]))
define("BroadcastUpload", {
    "type": "object", "properties": {**FORM_FIELDS, "file": CSV_FILE}, "required": ["channel", "file"],
    "anyOf": BODY_OR_TEMPLATE, "propertyNames": text(), "additionalProperties": text(),
    "description": "Multipart form: the request's text fields, plus the CSV."})
define("MessageRequest", record(
    {"channel": {**choice(registry.sendable()), "default": registry.DEFAULT},
     "to": text("A mobile number (else 422 invalid_phone_number).", examples=["+260961000001"]),
     "body": BODY, "template": TEMPLATE, "template_version": TEMPLATE_VERSION, "language": LANGUAGE,
     "priority": choice(["asap"], default="asap"),
     "personalisation": {**PERSONALISATION, "description": "Values for every required placeholder (else 422 "
                                                           "missing_personalisation)."}},
    required=["to"], anyOf=BODY_OR_TEMPLATE,
    examples=[{"to": "+260961000001", "body": "Your code is ((code))", "personalisation": {"code": "1234"}}]))
define("TemplateRequest", record(
    {"name": NAME, "channel": {**choice(registry.known()), "default": registry.DEFAULT},
     "language": nullable(matching("^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$", "must be a language code such as en, "
                                   "bem or nya", "'' or null (default) or a language code: en, bem, nya.")),
     "body": words(TEMPLATE_SYNTAX, maxLength=MAX_BODY_CHARS),
     "service_critical": {**BOOLEAN, "default": False, "description": (
         "A one-time code or an account alert: a transactional message by this template may reach a number on "
         f"the suppression list; allowed on {', '.join(registry.critical_may_pass())} only; audited.")}},
    required=["name", "body"],
    **{"if": {"required": ["channel"], "properties": {"channel": {"not": choice(registry.critical_may_pass())}}},
       "then": {"properties": {"service_critical": {"const": False, "description": (
           f"service_critical is allowed on {', '.join(registry.critical_may_pass())} only")}}}},
    examples=[{"name": "rain-alert", "body": "Rain expected tomorrow, ((name|default:friend))"}]))
define("SegmentRequest", record({"name": NAME, "filter": FILTER}, required=["name", "filter"],
                                examples=[{"name": "bemba-speakers", "filter": {"field": "language", "eq": "bem"}}]))
ADDRESS = nullable(text(maxLength=MAX_VALUE_CHARS))
define("ContactPatch", record(
    {"phone": {**ADDRESS, "description": "A phone number (else 422 invalid_phone_number); null or blank clears it."},
     "whatsapp": {**ADDRESS, "description": "A phone number (else 422 invalid_phone_number)."},
     "email": {**ADDRESS, **matching(f"^[{_B}]*([^@{_B}\\u0000]+@[^@{_B}\\u0000]+\\.[^@{_B}\\u0000]+)?[{_B}]*$",
                                     "must be an email address"), "type": ["string", "null"]},
     "inbox_user_id": ADDRESS,
     "language": nullable(matching(f"^[{_B}]*([a-z]{{2,3}}(-[A-Za-z0-9]{{1,8}})?)?[{_B}]*$",
                                   "must be a language code such as en, bem or ny")),
     "attributes": {"type": "object", "description": "Merged; a null value removes one.",
                    "propertyNames": matching("^[A-Za-z_][A-Za-z0-9_]{0,62}$", "must be letters, digits and _ "
                                              "(not first), at most 63"),
                    "additionalProperties": {"anyOf": [text(maxLength=MAX_VALUE_CHARS),
                                                       {"type": ["number", "boolean", "null"]}]}},
     "consent": {"type": "object", "description": "{channel: {granted, source, at}}",
                 "propertyNames": choice(CONTACT_CHANNELS),
                 "additionalProperties": record(
                     {"granted": BOOLEAN, "source": nullable(text(maxLength=MAX_VALUE_CHARS)),
                      "at": {"anyOf": [DATE_TIME, {"type": "string", "pattern": BLANK_ONLY}, {"type": "null"}]}},
                     required=["granted"])}},
    closed=True, examples=[{"language": "bem", "attributes": {"district": "Chipata"}}]))
define("OptOutRequest", record(
    {"channel": {**choice(registry.known()), "default": registry.DEFAULT},
     "address": words("A phone number for sms (else 422 invalid_phone_number), else the channel's address.",
                      maxLength=320, examples=["+260961000001"]),
     "reason": nullable(text(maxLength=500))}, required=["address"],
    examples=[{"channel": registry.DEFAULT, "address": "+260961000001", "reason": "asked by phone"}]))
define("LifecycleRequest", record({"reason": nullable(text(maxLength=MAX_REASON_CHARS))},
                                  description="Optional note kept in the audit log.",
                                  examples=[{"reason": "paused for the holiday"}]))
DEAD_LETTER_FILTER = {"broadcast_id": UUID, "reason": choice(DEAD_LETTER_REASONS)}
FORCE = {**BOOLEAN, "description": "Required to requeue an outcome_unknown entry: the gateway may already have it, "
                                   "so it may be sent twice (else 422 outcome_unknown_requires_force)."}
define("ForceRequest", record({"force": FORCE}, closed=True, examples=[{"force": True}]))
define("DeadLetterFilter", record(DEAD_LETTER_FILTER, closed=True, examples=[{"reason": "permanent_error"}]))
define("RequeueFilter", record({**DEAD_LETTER_FILTER, "force": FORCE}, closed=True,
                              examples=[{"reason": "attempts_exhausted"}]))
define("ContactImport", record(
    {"file": text("UTF-8 CSV: external_id, phone, email, whatsapp, inbox_user_id, language, consent_<channel>, "
                  "consent_source, consent_at, attributes (JSON); any other column is an attribute. A file whose "
                  "header or ids do not hold together is 422 invalid_csv; bad rows are reported, not refused.",
                  contentMediaType="text/csv")}, required=["file"], closed=True))
