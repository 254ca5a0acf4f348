"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, current_app

from ..errors import error_body
from .http import respond

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return respond({"status": "ok"})


@blp.get("/readyz")
def readyz():
    """The database answers and its schema is at the revision this code expects."""
    ext = current_app.extensions["grafeas"]
    try:
        revision = ext.storage.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        current_app.logger.warning("readiness check failed: %s", exc)
        return respond(error_body(503, "database unreachable"), 503)
    if revision != ext.schema_head:
        message = (
            f"database schema is at {revision or 'nothing'}, expected {ext.schema_head}: run 'grafeas-py db upgrade'"
        )
        return respond(error_body(503, message), 503)
    return respond({"status": "ready", "schemaRevision": revision})
