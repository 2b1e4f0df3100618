"""The OpenAPI document's audience part: contacts, segments and the fields that address them."""
from __future__ import annotations

from app.api.openapi_kit import OBJECT, STRING, TIME, closed, nullable, obj


FILTER = {**OBJECT, "description": "A contact filter: {and|or: [...]}, {not: {...}}, or {field, eq|ne|in|gt|gte|lt|lte|"
                                   "exists}; fields: external_id, phone, email, whatsapp, inbox_user_id, language, "
                                   "carrier, created_at, updated_at, consent.<channel>, attributes.<name>.",
          "examples": [{"and": [{"field": "attributes.crop", "eq": "maize"},
                                {"field": "attributes.district", "in": ["Chipata", "Lundazi"]}]}]}
AUDIENCE_FIELDS = {
    "segment": {**STRING, "description": "A saved segment's name (instead of recipients)."},
    "filter": {**FILTER, "description": "An inline contact filter (instead of recipients)."},
    "exclude_received": {**STRING, "format": "uuid",
                         "description": "Leave out contacts whose phone was sent (or delivered) that broadcast."},
}
CONSENT = {"type": "object", "additionalProperties": obj(
    {"granted": {"type": "boolean"}, "source": nullable(STRING), "at": nullable(TIME)}, required=["granted"])}
CONTACT_FIELDS = {"phone": nullable(STRING), "email": nullable(STRING), "whatsapp": nullable(STRING),
                  "inbox_user_id": nullable(STRING), "language": nullable(STRING)}
# Values are trimmed before they are checked, so spaces around a language code are fine.
LANGUAGE_TAG = {**nullable(STRING), "pattern": r"^\s*([a-z]{2,3}(-[A-Za-z0-9]{1,8})?)?\s*$"}
CONTACT_PATCH = closed({**CONTACT_FIELDS, "language": LANGUAGE_TAG,
                        "attributes": {**OBJECT, "description": "Merged; a null value removes one."},
                        "consent": {**OBJECT, "description": "{channel: {granted, source, at}}"}})
CONTACT = obj({"external_id": STRING, **CONTACT_FIELDS, "phone_carrier": nullable(STRING),
               "phone_error": {**nullable(STRING), "description": "Why the phone cannot receive SMS (not_mobile, ...)."},
               "attributes": OBJECT, "consent": CONSENT, "created_at": TIME, "updated_at": TIME})
SEGMENT = obj({"name": STRING, "filter": FILTER, "created_at": TIME})
