"""GET /dashboard: the operator's page; it calls the JSON API itself with the key it is given."""
from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

from app.api.contract import accepts

bp = Blueprint("dashboard", __name__)
# The page and its script come only from this origin and talk only to it; no inline code runs,
# so text from the API can never become markup or script even if an escape is missed.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                           "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@bp.get("/dashboard")
@accepts()
def page():
    """The self-contained HTML page from app/static (no auth: it holds no data until given a key)."""
    response = send_from_directory(current_app.static_folder, "dashboard.html", mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
