"""Engines for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, create_engine, event

# Bytes of WAL a SQLite database keeps once a checkpoint has let the log start over.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def dumps_json(value) -> str:
    """JSON text through orjson, for documents."""
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 5, autocommit: bool = False) -> Engine:
    """An engine with JSON through orjson, and SQLite tuned for concurrent writers.

    There is no pre-ping (a round trip per checkout): a dropped connection fails one request with
    503, which clients retry, and the pool reconnects.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, json_serializer=dumps_json, json_deserializer=orjson.loads)
        _tune_sqlite(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_engine(
        url, json_serializer=dumps_json, json_deserializer=orjson.loads, pool_size=pool_size, **options
    )
    _plan_with_values(engine)
    return engine


def make_engines(url: str, *, pool_size: int = 5) -> tuple[Engine, Engine]:
    """A (writer, reader) pair; the reader runs queries without BEGIN/ROLLBACK round trips.

    PostgreSQL gets a second pool of autocommit connections, so that no connection switches mode
    per request. SQLite shares one engine (an in-memory database exists once per engine).
    """
    writer = make_engine(url, pool_size=pool_size)
    if url.startswith("sqlite"):
        return writer, writer.execution_options(isolation_level="AUTOCOMMIT")
    return writer, make_engine(url, pool_size=pool_size, autocommit=True)


def _plan_with_values(engine: Engine) -> None:
    """Statements with the execution option `plan_with_values` go to PostgreSQL unprepared, so each
    execution is planned with its parameters' values.

    psycopg prepares a statement once it has run five times on a connection, and after five runs of
    the prepared statement PostgreSQL may settle on a generic plan, made without the values. A
    lookup by key loses nothing by it; a page of a filtered list does, since which index serves it
    depends on the values. At 300,000 occurrences in 3 projects the cached plans of a page filtered on
    a popular noteName read the note's occurrences in every project (41 ms, against 0.6 ms planned
    with the values), and on two document fields the matches of every project (236 ms, against
    0.9 ms). Planning a page anew costs a fraction of a millisecond."""

    @event.listens_for(engine, "do_execute")
    def _unprepared(cursor, statement, parameters, context):
        if context.execution_options.get("plan_with_values"):
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement is its own transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("write") else "BEGIN DEFERRED")
