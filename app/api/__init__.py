"""HTTP endpoints, one blueprint per resource."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Mount every blueprint (after the request bodies its views check and the path converters its routes use)."""
    from app.api import request_schemas  # noqa: F401 - registers every request body schema
    from app.api.params import ContactIdConverter

    app.url_map.converters["contact_id"] = ContactIdConverter
    from app.api import (accounts, broadcasts, contacts, dashboard, dead_letters, health, messages, metrics, openapi, optouts,
                         quotas, segments, templates, webhooks)

    for module in (accounts, broadcasts, contacts, dashboard, dead_letters, health, messages, metrics, openapi, optouts, quotas,
                   segments, templates, webhooks):
        app.register_blueprint(module.bp)
