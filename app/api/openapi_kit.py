"""Building blocks of the OpenAPI document: schema shorthands, shared error responses, one operation."""
from __future__ import annotations

STRING, INTEGER, NUMBER, OBJECT = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "object"}
TIME = {"type": "string", "format": "date-time"}
# Money travels as a fixed 4-decimal string because JSON numbers lose cents.
MONEY = {"type": "string", "pattern": r"^-?\d+\.\d{4}$", "examples": ["12.5000"]}
ERRORS = {
    "BadRequest": (400, "The body cannot be read or stored: bad JSON, not an object, an unsupported content type, "
                        "an unreadable CSV line (`details.line`), or a NUL character or lone UTF-16 surrogate "
                        "(`details.field` names it)."),
    "Unauthorized": (401, "Missing, unknown or revoked API key (or metrics token)."),
    "NotFound": (404, "No such resource for this service."),
    "Conflict": (409, "The resource's current state does not allow this action."),
    "PayloadTooLarge": (413, "The body or the recipient list is over its configured limit."),
    "Unprocessable": (422, "A field is wrong; `details.field` names it. An Idempotency-Key reused with another "
                           "body is `idempotency_key_reused`."),
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


def closed(properties: dict, description: str = "") -> dict:
    """A request object whose fields are all optional and whose unknown fields are refused (422)."""
    return {**obj(properties, description, required=[]), "additionalProperties": False}


def array(items: dict) -> dict:
    """An array schema."""
    return {"type": "array", "items": items}


def json_content(schema: dict) -> dict:
    """A JSON media-type map."""
    return {"application/json": {"schema": schema}}


def reply(description: str, schema: dict | None = None, headers: dict | None = None) -> dict:
    """One response object."""
    response = {"description": description}
    if schema is not None:
        response["content"] = json_content(schema)
    if headers:
        response["headers"] = headers
    return response


def fails(*names: str) -> dict:
    """Error responses by their component names."""
    return {str(ERRORS[name][0]): {"$ref": f"#/components/responses/{name}"} for name in names}


def param(name: str) -> dict:
    """A reference to a shared parameter."""
    return {"$ref": f"#/components/parameters/{name}"}


def limit(default: int, maximum: int) -> dict:
    """A page-size query parameter (its bounds differ per endpoint)."""
    return {"name": "limit", "in": "query", "schema": {**INTEGER, "minimum": 1, "maximum": maximum,
                                                       "default": default}}


def op(op_id: str, tag: str, summary: str, responses: dict, *, public: bool = False, **extra) -> dict:
    """One operation; authenticated ones answer 401 too, public ones override security."""
    responses = {**responses, **({} if public else fails("Unauthorized"))}
    operation = {"operationId": op_id, "tags": [tag], "summary": summary, "responses": responses, **extra}
    if public:
        operation["security"] = []
    return operation
