"""Small WSGI helpers: reading requests and shaping (status, headers, body) answers."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, parse_qsl

# Bigger than any sane bulk request (10,000 recipients is ~200 KB).
MAX_BODY_BYTES = 16 * 1024 * 1024

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Content Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}

Response = tuple[str, list[tuple[str, str]], bytes]


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


def status_line(code: int) -> str:
    """'201 Created' and the like."""
    return f"{code} {_REASONS.get(code, 'Unknown')}"


def raw(code: int, content_type: str, body: bytes, extra: list | None = None) -> Response:
    """An answer with a ready-made body."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if extra:
        headers.extend(extra)
    return status_line(code), headers, body


def json_response(code: int, data, extra: list | None = None) -> Response:
    """An answer with a JSON body."""
    return raw(code, "application/json", json.dumps(data).encode(), extra)


def text_response(code: int, text: str) -> Response:
    """An answer with a plain-text body, as AT uses for auth and validation errors."""
    return raw(code, "text/plain; charset=utf-8", text.encode())


def error(code: int, message: str) -> Response:
    """A JSON error answer."""
    return json_response(code, {"error": message})


def read_body(environ: dict) -> bytes:
    """The request body, refusing anything over MAX_BODY_BYTES."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        if int(length) > MAX_BODY_BYTES:
            raise BodyTooLarge()
        return stream.read(int(length))
    # No length (chunked): read one byte past the cap to notice an oversize body.
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    return body


def read_form(environ: dict) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (last value wins)."""
    text = read_body(environ).decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def read_json(environ: dict):
    """A JSON body; raises ValueError when it is not JSON."""
    return json.loads(read_body(environ) or b"null")


def query(environ: dict) -> dict[str, str]:
    """Query-string parameters (first value wins)."""
    parsed = parse_qs(environ.get("QUERY_STRING", ""))
    return {name: values[0] for name, values in parsed.items()}
