"""One error shape for everything: `{"error": {"code", "message", "status", "details"}}`."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, current_app, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from .. import db
from ..errors import Aborted, ApiError, Unauthenticated, error_body
from ..storage.engine import sqlite_read_only, timed_out
from ..storage.sql import LOST_TO_CONCURRENT as _LOST_TO_CONCURRENT
from .http import respond

log = logging.getLogger("grafeas_py")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")


def request_id() -> str:
    """The caller's X-Request-Id when it is sane, else a fresh one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _error_with_request_id(status: int, message: str, rid: str):
    """An error response whose message quotes request id `rid`, also sent as the X-Request-Id header."""
    response = respond(error_body(status, message), status)
    response.headers["X-Request-Id"] = rid
    return response


def _api_error(exc: ApiError):
    response = respond(exc.body(), exc.http_status)
    if isinstance(exc, Unauthenticated):  # RFC 6750: say which scheme would be accepted
        bad = ', error="invalid_token"' if request.headers.get("Authorization") else ""
        response.headers["WWW-Authenticate"] = f'Bearer realm="grafeas-py"{bad}'
    return response


def _http_error(exc: HTTPException):
    status = exc.code or 500
    message = _HTTP_MESSAGES.get(status) or exc.description or exc.name
    if status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:  # a query parameter failed its schema (webargs)
        message = "invalid request: " + _flatten(messages)
    if status == 413:
        limit = request.max_content_length
        message = f"request body is larger than the limit of {limit} bytes"
    response = respond(error_body(status, message), status)
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _database_error(exc: Exception):
    """The database unreachable or busy, or its schema at another revision: 503; a transaction that lost
    to a concurrent one: 409 ABORTED, as a lost compare-and-set is; a statement cut off at its timeout:
    504; a SQLite file that cannot be written: 503 saying so; anything else is ours."""
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in _LOST_TO_CONCURRENT:
        log.warning("concurrent write conflict handling %s %s: %s", request.method, request.path, exc)
        return _api_error(Aborted("the request conflicted with a concurrent write of the same data; retry it"))
    if timed_out(exc):
        return _deadline_error(exc)
    read_only = sqlite_read_only(exc)
    if read_only:
        return _read_only_error(read_only)
    unreachable = isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)) or getattr(
        exc, "connection_invalidated", False
    )
    if not unreachable or _missing_from_schema(exc):
        mismatch = _schema_mismatch()
        if mismatch:
            return _schema_error(exc, mismatch)
    if not unreachable:
        return _internal_error(exc)
    rid = request_id()
    log.warning("database unavailable handling %s %s (request id %s): %s", request.method, request.path, rid, exc)
    response = _error_with_request_id(503, f"the database is unavailable; retry later (request id {rid})", rid)
    response.headers["Retry-After"] = "1"
    return response


def _read_only_error(reason: str):
    """A write SQLite refused: 503, as for a schema to upgrade (the caller did nothing wrong, and once an
    operator makes the file writable the request succeeds, without a restart: see storage.engine), but
    saying why and with no Retry-After, since retrying alone never helps; /readyz says so too."""
    current_app.extensions["grafeas"].readiness.write_refused()
    rid = request_id()
    log.error(
        "the database cannot be written: %s; handling %s %s (request id %s)", reason, request.method, request.path, rid
    )
    message = (
        f"the database cannot be written: {reason}; nothing was written, and retrying will not help until an"
        f" operator makes it writable (request id {rid})"
    )
    return _error_with_request_id(503, message, rid)


def _deadline_error(exc: Exception):
    """A statement cut off at GRAFEAS_DB_TIMEOUT (PostgreSQL's statement_timeout, a SQLite read's
    deadline): the database is up, but this request's work took too long, so say that rather than
    that the database is unavailable."""
    rid = request_id()
    timeout = current_app.extensions["grafeas"].db_timeout
    log.warning(
        "database statement timed out handling %s %s (request id %s): %s", request.method, request.path, rid, exc
    )
    message = (
        f"the database did not finish this request within GRAFEAS_DB_TIMEOUT ({timeout:g} s): it was slow or "
        f"waited for other writers; retry, or ask for less (a narrower filter, a smaller pageSize) (request id {rid})"
    )
    response = _error_with_request_id(504, message, rid)
    response.headers["Retry-After"] = "1"
    return response


def _missing_from_schema(exc: Exception) -> bool:
    """SQLite's word for a table or column that is not there (an OperationalError, as a lost connection is)."""
    text = str(getattr(exc, "orig", exc))
    return text.startswith(("no such table", "no such column")) or " has no column named " in text


def _schema_mismatch() -> str | None:
    """Why the schema cannot serve this server, when it is at another revision than the code's."""
    # Asked only once a statement has failed, as its likely cause (a table or column missing or changed),
    # never per request: /readyz is what checks the revision ahead of time.
    ext = current_app.extensions["grafeas"]
    try:
        revision = ext.storage.ping()
    except Exception:  # unreachable after all: the failure was not about the schema
        return None
    return db.schema_problem(revision, ext.schema_head)


def _schema_error(exc: Exception, mismatch: str):
    # 503, as /readyz answers: the caller did nothing wrong, and the request succeeds once the schema is
    # upgraded, without restarting the server. No Retry-After: an upgrade takes as long as it takes.
    rid = request_id()
    failed = (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]  # PostgreSQL adds the statement
    log.error("%s; handling %s %s (request id %s): %s", mismatch, request.method, request.path, rid, failed)
    # A failed statement rolls its transaction back: a write says so, as one refused at its commit does.
    written = "" if request.method in ("GET", "HEAD", "OPTIONS") else "; nothing was written"
    return _error_with_request_id(503, f"{mismatch}{written} (request id {rid})", rid)


def _internal_error(exc: Exception):
    rid = request_id()
    log.exception("internal error handling %s %s (request id %s)", request.method, request.path, rid)
    return _error_with_request_id(500, f"internal error; quote request id {rid} when reporting it", rid)


def _flatten(messages: dict, prefix: str = "") -> str:
    parts = []
    for key, value in messages.items():
        if key in ("query", "json", "headers") and isinstance(value, dict) and not prefix:
            parts.append(_flatten(value))
        elif isinstance(value, dict):
            parts.append(_flatten(value, f"{prefix}{key}."))
        else:
            text = " ".join(value) if isinstance(value, list) else str(value)
            parts.append(f"{prefix}{key}: {text}")
    return "; ".join(parts)


_HTTP_MESSAGES = {404: "no such resource or route; see /docs for the API"}


def register(app: Flask) -> None:
    """Install the handlers (after flask-smorest's, which they replace)."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)
    app.register_error_handler(Exception, _internal_error)
