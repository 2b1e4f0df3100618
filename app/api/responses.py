"""Response shapes shared by views."""
from __future__ import annotations

from flask import jsonify


def accepted(body: dict, location: str, created: bool):
    """202 with a Location; a replayed Idempotency-Key says so in a header."""
    response = jsonify(body)
    response.headers["Location"] = location
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 202
