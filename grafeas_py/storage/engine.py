"""Engines for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import math
import sqlite3
import time

import orjson
from sqlalchemy import Engine, create_engine, event

# Connecting gives up after this many seconds where no `timeout` is given (commands, migrations);
# psycopg's own default is 130.
CONNECT_TIMEOUT = 10
# PostgreSQL ends a session left idle inside a transaction this long (the server sets it on its
# connections): between two statements of a request there is only Python's work, milliseconds, so
# only a client that hung mid-transaction, holding its row locks, is ever hit.
IDLE_IN_TRANSACTION_SECONDS = 60
# Bytes of WAL a SQLite database keeps once a checkpoint has let the log start over.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# SQLite VM instructions between two checks of a read's deadline (see `_bound_sqlite_reads`).
SQLITE_CHECK_EVERY = 100_000
# PostgreSQL's query_canceled: here, by the statement_timeout the engine sets.
_QUERY_CANCELED = "57014"
# Idle pooled connections to a host that vanished are found out within a minute, not hours.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def dumps_json(value) -> str:
    """JSON text through orjson, for documents."""
    return orjson.dumps(value).decode()


class _Bounds:
    """What a PostgreSQL database's engines share: the gate on connecting and, with a `timeout`, the
    watchdog over every wait (see `bounds`)."""

    def __init__(self, timeout: float | None) -> None:
        from .bounds import GRACE_SECONDS, ConnectGate, Watchdog

        self.timeout = timeout
        self.gate = ConnectGate()
        self.watchdog = Watchdog(timeout + GRACE_SECONDS, on_cut=self.gate.trip) if timeout else None


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    autocommit: bool = False,
    timeout: float | None = None,
    _bounds: _Bounds | None = None,
) -> Engine:
    """An engine with JSON through orjson, and SQLite tuned for concurrent writers.

    On PostgreSQL a `timeout` (seconds) bounds every wait: connecting, a free pooled connection,
    each statement (`statement_timeout`), and any answer at all (see `bounds`); without it only
    connecting is bounded (`CONNECT_TIMEOUT`), for migrations and commands that may run long. On
    SQLite it bounds each read (see `_bound_sqlite_reads`).

    There is no pre-ping (a round trip per checkout): a dropped connection fails one request with
    503, which clients retry, and the pool reconnects.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, json_serializer=dumps_json, json_deserializer=orjson.loads)
        _tune_sqlite(engine)
        if timeout:
            _bound_sqlite_reads(engine, timeout)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if timeout:
        options["pool_timeout"] = timeout
    engine = create_engine(
        url,
        json_serializer=dumps_json,
        json_deserializer=orjson.loads,
        pool_size=pool_size,
        max_overflow=max_overflow,
        **options,
    )
    _plan_with_values(engine)
    if engine.dialect.driver == "psycopg":
        _bound(engine, _bounds or _Bounds(timeout))
    return engine


def make_engines(url: str, *, pool_size: int = 5, timeout: float | None = None) -> tuple[Engine, Engine]:
    """A (writer, reader) pair; the reader runs queries without BEGIN/ROLLBACK round trips.

    PostgreSQL gets a second pool of autocommit connections, so that no connection switches mode
    per request. SQLite shares one engine (an in-memory database exists once per engine).

    Each pool holds at most `pool_size` connections, never more: a thread that finds them all in use
    waits for one (at most `timeout`), so a process keeps at most 2 x `pool_size` on PostgreSQL.
    """
    bounds = None if url.startswith("sqlite") else _Bounds(timeout)
    kwargs = {"pool_size": pool_size, "max_overflow": 0, "timeout": timeout, "_bounds": bounds}
    writer = make_engine(url, **kwargs)
    if url.startswith("sqlite"):
        return writer, writer.execution_options(isolation_level="AUTOCOMMIT")
    return writer, make_engine(url, autocommit=True, **kwargs)


def timed_out(exc: BaseException) -> bool:
    """Whether a database error (SQLAlchemy's, or the driver's) is a statement cut off at its timeout."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
    return getattr(orig, "sqlstate", None) == _QUERY_CANCELED


# Why SQLite will not write, by its extended result code (SQLITE_READONLY and its kinds), as messages say it.
_READ_ONLY_BECAUSE = {
    sqlite3.SQLITE_READONLY_DIRECTORY: "its directory is not writable, so SQLite cannot make the -wal and -shm"
    " files beside it",
    sqlite3.SQLITE_READONLY_DBMOVED: "the file was moved or deleted while open",
    sqlite3.SQLITE_READONLY_CANTINIT: "its -shm file is read-only",
    sqlite3.SQLITE_READONLY_CANTLOCK: "its -shm file is read-only",
}
_READ_ONLY = (
    "the file, or its -wal or -shm file beside it, is read-only (their permissions, a read-only mount, or mode=ro"
    " in the URL)"
)


def sqlite_read_only(exc: BaseException) -> str | None:
    """Why SQLite refused to write, if a database error (SQLAlchemy's, or the driver's) is that; else None."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None) if isinstance(orig, sqlite3.Error) else None
    if code is None or code & 0xFF != sqlite3.SQLITE_READONLY:
        return None
    return _READ_ONLY_BECAUSE.get(code, _READ_ONLY)


def _bound(engine: Engine, bounds: _Bounds) -> None:
    """Connect through the gate, with keepalives, a connect timeout and, with a timeout, the
    session's `statement_timeout` and the watchdog. Parameters in the URL win over these."""
    from psycopg import pq

    from .bounds import GRACE_SECONDS, WatchedConnection

    timeout, watchdog = bounds.timeout, bounds.watchdog
    defaults: dict = {"connect_timeout": max(2, math.ceil(timeout)) if timeout else CONNECT_TIMEOUT, **_KEEPALIVES}
    session = None
    if timeout:
        session = (
            f"SET statement_timeout = {max(1, round(timeout * 1000))}; "
            f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_SECONDS * 1000}"
        )
        if pq.version() >= 120000:  # sent data unacknowledged this long: the network is gone
            defaults["tcp_user_timeout"] = round((timeout + GRACE_SECONDS) * 1000)

    def connect(cargs, cparams):
        conn = WatchedConnection.connect(*cargs, **cparams)
        conn.watchdog = watchdog
        if session:
            try:
                conn.autocommit = True  # one round trip, no transaction to commit
                conn.execute(session)
                conn.autocommit = False
            except BaseException:
                conn.close()
                raise
        return conn

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        for key, value in defaults.items():
            cparams.setdefault(key, value)
        return bounds.gate.connect(lambda: connect(cargs, cparams))


def _plan_with_values(engine: Engine) -> None:
    """Statements with the execution option `plan_with_values` go to PostgreSQL unprepared, so each
    execution is planned with its parameters' values.

    psycopg prepares a statement once it has run five times on a connection, and after five runs of
    the prepared statement PostgreSQL may settle on a generic plan, made without the values. A
    lookup by one key loses nothing by it; a lookup by a list of keys does (see key_lists.py, whose
    statements are marked so when compiled), and so does a page of a filtered list, since which
    index serves it depends on the values. At 300,000 occurrences in 3 projects the cached plans of a
    page filtered on a popular noteName read the note's occurrences in every project (41 ms, against
    0.6 ms planned with the values), and on two document fields the matches of every project (236 ms,
    against 0.9 ms). Planning a page anew costs a fraction of a millisecond."""

    @event.listens_for(engine, "do_execute")
    def _unprepared(cursor, statement, parameters, context):
        # Or set on the compiled statement by the construct that needs it (key_lists.one_of).
        if context.execution_options.get("plan_with_values") or getattr(context.compiled, "plan_with_values", False):
            cursor.execute(statement, parameters, prepare=False)
            return True
        return None


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for writes so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process in WAL mode
        # A batch of 1000 occurrences writes some 600 pages (2.4 MiB) of WAL across seven B-trees. With
        # SQLite's defaults (a 2 MiB cache, a checkpoint every 1000 pages) batches re-read evicted index
        # pages and every other one pays for a checkpoint; these cut the database's share of a batch by
        # a fifth to a third.
        # KiB: up to 16 MiB per connection, allocated as used (measured as fast as 64 MiB for batches).
        cur.execute("PRAGMA cache_size=-16384")
        cur.execute("PRAGMA wal_autocheckpoint=10000")  # pages: checkpoint every ~40 MiB of WAL
        # Readers that are never all gone at once starve checkpoints, and the WAL grows past that (272
        # MB under 40 clients); SQLite then keeps the file at its peak size for good. With a limit it
        # cuts the file back to it when the log restarts after a checkpoint; above the ~40 MiB a
        # normal cycle reaches, so the usual cycle never pays for truncating and growing again.
        cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")  # has_prefix matches case as PostgreSQL's LIKE does
        cur.close()

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        # A connection SQLite opened read-only stays so once the file is writable again: each read-only
        # error has the pool open its connections anew, so that a server recovers without a restart.
        if sqlite_read_only(context.original_exception):
            context.is_disconnect = True

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("write") else "BEGIN DEFERRED")


class _Deadline:
    """When the statement running on one SQLite connection is to be interrupted; None: never."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def passed(self) -> bool:
        """The progress handler: true (interrupt) once the deadline has passed."""
        return self.at is not None and time.monotonic() > self.at


def _bound_sqlite_reads(engine: Engine, timeout: float) -> None:
    """Interrupt a read (a statement in autocommit mode: on SQLite the reader runs nothing else) once it
    has run `timeout` seconds, as PostgreSQL's statement_timeout does; `timed_out` then tells.

    SQLite has no statement timeout, and one unbounded read (a long OR of document filters over a big
    project) holds a thread for minutes: a few of them stop a server. Writes are not bounded: the body
    limit bounds each, a large batch or ingestion legitimately takes longer, and cutting one short
    would only fail work that was going to finish.

    The handler runs every `SQLITE_CHECK_EVERY` VM instructions: some 7 ms of a plain scan, 30 ms of
    one evaluating JSON paths. Each call takes the GIL, so far fewer calls than that would slow reads
    while other threads run Python; a read ends at most that much past its deadline."""

    @event.listens_for(engine, "connect")
    def _install(dbapi_conn, record):
        deadline = record.record_info["deadline"] = _Deadline()
        dbapi_conn.set_progress_handler(deadline.passed, SQLITE_CHECK_EVERY)

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn, _cursor, _statement, _parameters, _context, _executemany):
        # Set per statement, and left in place while its rows are read; the next statement resets it.
        reading = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        conn.connection.record_info["deadline"].at = time.monotonic() + timeout if reading else None
