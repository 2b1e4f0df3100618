"""Building blocks of the OpenAPI document: schema shorthands, error responses, links, one operation.

Request parameters and bodies are not written here: each operation's come from the declaration
its view checks requests with (app.api.contract); these blocks describe what the API answers.
"""
from __future__ import annotations

STRING, INTEGER, NUMBER, OBJECT = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "object"}
BOOLEAN = {"type": "boolean"}
UUID_TEXT = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
# Money travels as a fixed 4-decimal string because JSON numbers lose cents.
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{4}$", "examples": ["12.5000"]}
ERRORS = {
    "BadRequest": (400, "The body cannot be read or stored: bad JSON, not an object, an unsupported content type, "
                        "an unreadable CSV line (`details.line`), or a NUL character or lone UTF-16 surrogate "
                        "(`nul_character`, `lone_surrogate`; `details.field` names it)."),
    "Unauthorized": (401, "Missing, unknown or revoked API key (or metrics token)."),
    "NotFound": (404, "No such resource for this service (an id that cannot name one, too)."),
    "Conflict": (409, "The resource's current state does not allow this action."),
    "PayloadTooLarge": (413, "The body or the recipient list is over its configured limit."),
    "Unprocessable": (422, "`validation_failed`: a field breaks the request's schema; `details.field` names it and "
                           "the message says why."),
}
# 422 codes of rules no schema can state, each checked after the request matched its schema.
SEMANTIC_CODES = {
    "invalid_phone_number": "the address is not a phone number the numbering plans know (a mobile one, for `to`)",
    "scheduled_in_past": "scheduled_for is already past",
    "channel_unavailable": "no configured gateway account carries the channel",
    "empty_send_window": "send_window starts and ends at the same time",
    "timezone_required": "the recipients span time zones, so send_window needs a timezone",
    "invalid_template": "the text does not compile (`details.position`)",
    "unknown_template": "no saved template has that name (language, version)",
    "unknown_segment": "no saved segment has that name",
    "unknown_attribute": "the filter names an attribute no contact of the service has",
    "unknown_broadcast": "exclude_received names no broadcast of this service",
    "filter_too_complex": "the filter is deeper than 12 levels or holds more than 200 conditions",
    "invalid_csv": "the CSV lacks the columns or rows it needs, or repeats a column or an id (`details.field`)",
    "missing_personalisation": "personalisation lacks a value the text requires (`details.missing`)",
    "message_too_long": "the personalised text is over the length limit",
    "recipient_opted_out": "the number is on the service's suppression list for the channel",
    "idempotency_key_reused": "the Idempotency-Key came with another body before",
}


def ref(name: str) -> dict:
    """A reference to a schema under components."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """The same schema, also allowing null (3.1 style: a type list)."""
    return {**schema, "type": [schema["type"], "null"]}


def obj(properties: dict, description: str = "", required=None) -> dict:
    """An object schema; every listed property is required unless told otherwise."""
    schema = {"type": "object", "properties": properties,
              "required": list(properties if required is None else required)}
    return {**schema, "description": description} if description else schema


def array(items: dict) -> dict:
    """An array schema."""
    return {"type": "array", "items": items}


def json_content(schema: dict) -> dict:
    """A JSON media-type map."""
    return {"application/json": {"schema": schema}}


def reply(description: str, schema: dict | None = None, headers: dict | None = None, links: dict | None = None) -> dict:
    """One response object."""
    response = {"description": description}
    if schema is not None:
        response["content"] = json_content(schema)
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


def fails(*names: str) -> dict:
    """Error responses by their component names."""
    return {str(ERRORS[name][0]): {"$ref": f"#/components/responses/{name}"} for name in names}


def unprocessable(*codes: str) -> dict:
    """The 422 of an operation that also checks rules no schema states: each code, and what it means."""
    meanings = "; ".join(f"`{code}`: {SEMANTIC_CODES[code]}" for code in codes)
    schema = {"allOf": [ref("Error"), {"properties": {"error": {"properties": {"code": {
        "enum": ["validation_failed", *codes]}}}}}]}
    return {"422": reply(f"{ERRORS['Unprocessable'][1]} {meanings}.", schema)}


def link(operation_id: str, **parameters: str) -> dict:
    """A link to the operation that takes these parameters from this answer (runtime expressions)."""
    return {"operationId": operation_id, "parameters": parameters}


def op(op_id: str, tag: str, summary: str, responses: dict, *, public: bool = False, **extra) -> dict:
    """One operation; authenticated ones answer 401 too, public ones override security."""
    responses = {**responses, **({} if public else fails("Unauthorized"))}
    operation = {"operationId": op_id, "tags": [tag], "summary": summary, "responses": responses, **extra}
    if public:
        operation["security"] = []
    return operation
