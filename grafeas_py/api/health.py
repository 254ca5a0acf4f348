"""Liveness and readiness probes."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from ..errors import error_body
from .http import respond

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@blp.route("/healthz", methods=["GET"], endpoint="healthz")
@blp.doc(summary="Healthz")
@blp.response(200, "Health")
def healthz():
    """The process is up and serving."""
    return respond({"status": "ok"})


@blp.route("/readyz", methods=["GET"], endpoint="readyz")
@blp.doc(summary="Readyz")
@blp.response(200, "Readiness")
@blp.alt_response(503, schema="Error", description="The database is unreachable or not migrated to head.")
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
