"""Liveness and readiness probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import current_app
from flask_smorest import Blueprint

from .. import db
from ..errors import error_body
from ..storage.engine import sqlite_read_only
from .http import respond

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")
# How long /readyz waits for the database: a probe answers 503 rather than outlast its own timeout.
READY_WAIT_SECONDS = 2.0


class Readiness:
    """The database check of /readyz: one at a time per process, in a thread of its own, which
    probes wait for until `wait` seconds after it started.

    Probes of a stalled database would otherwise each hold a worker thread for as long as the stall
    lasts, until none is left for /healthz either; here they share the check that is under way, and
    once it is overdue they answer at once.

    After a write the database refused as read-only (`write_refused`), checks also try a write
    (`writable`) until one succeeds; only then, so that a check never waits on a busy writer's lock."""

    def __init__(
        self,
        ping: Callable[[], str | None],
        wait: float = READY_WAIT_SECONDS,
        writable: Callable[[], None] | None = None,
    ) -> None:
        self._ping, self.wait, self._writable = ping, wait, writable
        self._lock = threading.Lock()
        self._check: _Check | None = None
        self._write_refused = False

    def write_refused(self) -> None:
        """A write failed as the database is read-only: checks say so until a write works again."""
        self._write_refused = True

    def _ping_and_write(self) -> str | None:
        revision = self._ping()
        if self._write_refused and self._writable is not None:
            self._writable()
            self._write_refused = False
        return revision

    def revision(self) -> str | None:
        """The schema revision the database reports; raises what the ping raised, or TimeoutError."""
        with self._lock:
            check = self._check
            if check is None or check.done.is_set():
                check = self._check = _Check(self._ping_and_write)
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
@blp.alt_response(
    503, schema="Error", description="The database is unreachable, not migrated to head, or cannot be written."
)
def readyz():
    """The database answers and its schema is at the revision this code expects; once a write found it
    read-only, that it takes writes again."""
    ext = current_app.extensions["grafeas"]
    try:
        revision = ext.readiness.revision()
    except TimeoutError as exc:
        current_app.logger.warning("readiness check failed: %s", exc)
        return respond(error_body(503, f"database unreachable: {exc}"), 503)
    except Exception as exc:  # any failure to reach the database means not ready
        read_only = sqlite_read_only(exc)
        if read_only:
            message = f"the database cannot be written: {read_only}"
            current_app.logger.warning("readiness check failed: %s", message)
            return respond(error_body(503, message), 503)
        current_app.logger.warning("readiness check failed: %s", exc)
        return respond(error_body(503, "database unreachable"), 503)
    problem = db.schema_problem(revision, ext.schema_head)
    if problem is not None:
        return respond(error_body(503, problem), 503)
    return respond({"status": "ready", "schemaRevision": revision})
