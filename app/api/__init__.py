"""HTTP endpoints, one blueprint per resource."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Mount every blueprint (after the path converters their routes use)."""
    from app.api.params import ContactIdConverter

    app.url_map.converters["contact_id"] = ContactIdConverter
    from app.api import (accounts, broadcasts, contacts, dashboard, dead_letters, health, messages, metrics, openapi, optouts,
                         quotas, segments, templates, webhooks)

    for module in (accounts, broadcasts, contacts, dashboard, dead_letters, health, messages, metrics, openapi, optouts, quotas,
                   segments, templates, webhooks):
        app.register_blueprint(module.bp)
