"""The API's error tree and its JSON shape: {"error": {"code", "message", "details"}}."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """Root of every error the API answers with on purpose."""

    status = 400
    code = "bad_request"
    headers: dict = {}

    def __init__(self, message: str, details: dict | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class ValidationFailed(ApiError):
    """The request is well-formed but a field is wrong (422)."""

    status = 422
    code = "validation_failed"


class MalformedRequest(ApiError):
    """The body cannot be read at all: bad JSON, wrong content type (400)."""

    status = 400
    code = "malformed_request"


class Unauthorized(ApiError):
    """Missing or wrong API key (401)."""

    status = 401
    code = "unauthorized"
    # RFC 9110: a 401 names the scheme the client should authenticate with.
    headers = {"WWW-Authenticate": 'Bearer realm="herald"'}


class Forbidden(ApiError):
    """The caller is known but refused: a callback whose signature or secret does not match (403)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such resource for this service (404)."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The resource's state does not allow this (409)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The body or the recipient list is over its configured limit (413)."""

    status = 413
    code = "payload_too_large"


class Unavailable(ApiError):
    """Something the request needs is down; the caller should retry later (503)."""

    status = 503
    code = "unavailable"


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The one JSON shape every error takes."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def init_app(app: Flask) -> None:
    """Answer ApiError and every HTTP error as JSON."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error_body(exc.code, exc.message, exc.details)), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        # Keep what the error itself says (a 405's Allow, RFC 9110), but the body is JSON, not its HTML.
        headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
        return jsonify(error_body(code, exc.description or exc.name)), exc.code, headers
