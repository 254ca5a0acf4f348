"""Liveness and readiness probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import current_app
from flask_smorest import Blueprint

from .. import db
from ..errors import error_body
from .http import respond

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")
# How long /readyz waits for the database: a probe answers 503 rather than outlast its own timeout.
READY_WAIT_SECONDS = 2.0


class Readiness:
    """The database check of /readyz: one at a time per process, in a thread of its own, which
    probes wait for until `wait` seconds after it started.

    Probes of a stalled database would otherwise each hold a worker thread for as long as the stall
    lasts, until none is left for /healthz either; here they share the check that is under way, and
    once it is overdue they answer at once."""

    def __init__(self, ping: Callable[[], str | None], wait: float = READY_WAIT_SECONDS) -> None:
        self._ping, self.wait = ping, wait
        self._lock = threading.Lock()
        self._check: _Check | None = None

    def revision(self) -> str | None:
        """The schema revision the database reports; raises what the ping raised, or TimeoutError."""
        with self._lock:
            check = self._check
            if check is None or check.done.is_set():
                check = self._check = _Check(self._ping)
        if not check.done.wait(max(0.0, check.started + self.wait - time.monotonic())):
            raise TimeoutError(f"no answer within {self.wait:g}s")
        if check.error is not None:
            raise check.error
        return check.revision


class _Check:
    def __init__(self, ping: Callable[[], str | None]) -> None:
        self.done = threading.Event()
        self.started = time.monotonic()
        self.revision: str | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=(ping,), name="readiness", daemon=True).start()

    def _run(self, ping) -> None:
        try:
            self.revision = ping()
        except Exception as exc:
            self.error = exc
        finally:
            self.done.set()


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
        revision = ext.readiness.revision()
    except TimeoutError as exc:
        current_app.logger.warning("readiness check failed: %s", exc)
        return respond(error_body(503, f"database unreachable: {exc}"), 503)
    except Exception as exc:  # any failure to reach the database means not ready
        current_app.logger.warning("readiness check failed: %s", exc)
        return respond(error_body(503, "database unreachable"), 503)
    problem = db.schema_problem(revision, ext.schema_head)
    if problem is not None:
        return respond(error_body(503, problem), 503)
    return respond({"status": "ready", "schemaRevision": revision})
