"""Liveness: the API answers and can reach PostgreSQL and Redis."""
from __future__ import annotations

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.contract import accepts
from app.extensions import db
from app.redis_store import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@accepts()
def healthz():
    """200 when both stores answer, 503 naming the one that does not."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["postgresql"] = "ok"
    except SQLAlchemyError as exc:
        checks["postgresql"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", "checks": checks}), 200 if healthy else 503
