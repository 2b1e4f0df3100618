"""The OpenAPI document's audience part: contacts and segments as the API answers with them."""
from __future__ import annotations

from app.api.openapi_kit import (BOOLEAN, INTEGER, OBJECT, STRING, TIME, array, fails, link, nullable, obj, op, ref,
                                 reply, unprocessable)

# The contacts import report's count of lines it refused (a CSV line, not a message's status).
IMPORT_REFUSED = "rejected"

FILTER = {**OBJECT, "description": "A contact filter, as components.schemas.Filter states it."}
CONSENT = {"type": "object", "additionalProperties": obj(
    {"granted": BOOLEAN, "source": nullable(STRING), "at": nullable(TIME)}, required=["granted"])}
CONTACT_FIELDS = {"phone": nullable(STRING), "email": nullable(STRING), "whatsapp": nullable(STRING),
                  "inbox_user_id": nullable(STRING), "language": nullable(STRING)}
CONTACT_LINKS = {name: link(name, external_id="$response.body#/external_id")
                 for name in ("getContact", "updateContact", "deleteContact")}
SEGMENT_LINKS = {name: link(name, name="$response.body#/name") for name in ("getSegment", "countSegment",
                                                                             "deleteSegment")}
SCHEMAS = {
    "Contact": obj({"external_id": STRING, **CONTACT_FIELDS, "phone_carrier": nullable(STRING),
                    "phone_error": {**nullable(STRING),
                                    "description": "Why the phone cannot receive SMS (not_mobile, ...)."},
                    "attributes": OBJECT, "consent": CONSENT, "created_at": TIME, "updated_at": TIME}),
    "ContactPage": obj({"contacts": array(ref("Contact")), "next_after": nullable(INTEGER)}),
    "ContactImportReport": obj({"rows": INTEGER, "created": INTEGER, "updated": INTEGER, IMPORT_REFUSED: INTEGER,
                                "rejects": array(obj({"line": INTEGER, "field": nullable(STRING), "reason": STRING})),
                                "rejects_truncated": BOOLEAN}),
    "ContactErased": obj({"external_id": STRING, "deleted": BOOLEAN, "messages_erased": INTEGER,
                          "receipt": ref("ErasureReceipt")}),
    "ErasureReceipt": obj({
        "external_id": STRING, "erased_at": TIME, "contact_deleted": BOOLEAN,
        "messages_tombstoned": INTEGER, "messages_cancelled": INTEGER, "reports_scrubbed": INTEGER,
        "dead_letters_closed": INTEGER, "suppressions_pseudonymised": INTEGER,
        "opt_out_events_pseudonymised": INTEGER, "inbound_keywords_pseudonymised": INTEGER, "kept_why": STRING},
        "What the erasure removed and kept, also written to the audit log; it never holds the address."),
    "Segment": obj({"name": STRING, "filter": FILTER, "created_at": TIME}),
    "SegmentList": obj({"segments": array(ref("Segment"))}),
    "SegmentCount": obj({"name": STRING, "count": INTEGER}),
    "SegmentDeleted": obj({"name": STRING, "deleted": BOOLEAN}),
}
PATHS = {
    "/v1/contacts/import": {"post": op("importContacts", "contacts", "Upsert contacts by external id from a CSV", {
        "200": reply("Imported; rejected rows are listed by line, field and reason.", ref("ContactImportReport")),
        **fails("BadRequest", "PayloadTooLarge"), **unprocessable("invalid_csv")})},
    "/v1/contacts/export": {"get": op("exportContacts", "contacts", "Every contact as CSV, streamed", {
        "200": {"description": "The import's own columns, attributes as JSON.",
                "content": {"text/csv": {"schema": STRING}}}})},
    "/v1/contacts": {"get": op("listContacts", "contacts", "A keyset page of contacts", {
        "200": reply("One page; next_after is null on the last.", ref("ContactPage"),
                     links={"getContact": link("getContact", external_id="$response.body#/contacts/0/external_id")}),
        **fails("Unprocessable")})},
    "/v1/contacts/{external_id}": {
        "get": op("getContact", "contacts", "One contact", {"200": reply("The contact.", ref("Contact")),
                                                            **fails("NotFound")}),
        "patch": op("updateContact", "contacts", "Change addresses, language, attributes or consent", {
            "200": reply("The contact after the change.", ref("Contact"), links=CONTACT_LINKS),
            **fails("BadRequest", "NotFound"), **unprocessable("invalid_phone_number")}),
        "delete": op("deleteContact", "contacts",
                     "Delete the contact and erase their addresses from messages and reports",
                     {"200": reply("Erased; message counts are kept; the receipt says what was removed and kept.",
                                   ref("ContactErased")), **fails("NotFound")})},
    "/v1/segments": {
        "post": op("createSegment", "segments", "Save a contact filter by name", {
            "201": reply("Saved.", ref("Segment"), links=SEGMENT_LINKS),
            **fails("BadRequest", "Conflict"), **unprocessable("unknown_attribute", "filter_too_complex")}),
        "get": op("listSegments", "segments", "Every saved segment", {"200": reply("By name.", ref("SegmentList"))})},
    "/v1/segments/{name}": {
        "get": op("getSegment", "segments", "One saved segment", {"200": reply("The segment.", ref("Segment")),
                                                                   **fails("NotFound")}),
        "delete": op("deleteSegment", "segments", "Forget a segment (broadcasts keep their own copy)", {
            "200": reply("Deleted.", ref("SegmentDeleted")), **fails("NotFound")})},
    "/v1/segments/{name}/count": {"get": op(
        "countSegment", "segments", "How many contacts the segment selects now", {
            "200": reply("The count.", ref("SegmentCount")), **fails("NotFound"),
            **unprocessable("unknown_attribute")})},
}
