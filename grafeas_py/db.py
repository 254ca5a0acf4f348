"""Schema migrations through Alembic: upgrade, current revision, and drift check."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

_HERE = Path(__file__).resolve().parent
# Installed packages carry the migrations inside; a source checkout has them at the top level.
MIGRATIONS = next(p for p in (_HERE / "migrations", _HERE.parent / "migrations") if (p / "env.py").exists())


def alembic_config(database_url: str) -> Config:
    """An Alembic config for our migrations against `database_url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@cache
def revisions() -> frozenset[str]:
    """Every revision the code knows."""
    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())


def _below(revision: str) -> set[str]:
    """The revisions `revision` was migrated through on its way from the first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {s.revision for s in script.iterate_revisions(revision, "base")} - {revision}


def schema_problem(revision: str | None, expected: str) -> str | None:
    """Why a database at `revision` cannot serve code that expects `expected`, and what to do; None if it can."""
    if revision == expected:
        return None
    if revision is None or revision in revisions():
        return (
            f"the database schema is at revision {revision or 'none (never migrated)'}, not this server's {expected}:"
            " run 'grafeas-py db upgrade'"
        )
    return (
        f"the database schema is at revision {revision}, which this server (at {expected}) does not know: a newer"
        " release migrated it; run that release"
    )


class Unreachable(Exception):
    """The database of a URL cannot be opened or connected to; the message says which and why, in one line."""


class ReadOnly(Unreachable):
    """The SQLite database of a URL can be read but not written; the message says which and why, in one line."""


# A write that changes nothing once rolled back, and that SQLite refuses on a database it cannot write to.
WRITE_PROBE = "CREATE TABLE grafeas_write_probe (x)"


def reach(database_url: str, *, write: bool = False) -> None:
    """Connect once, so that a database that is not there fails in one line before any work starts; with
    `write`, a SQLite database must take a write too (ReadOnly): read-only, a server started, answered
    /readyz and failed every write. PostgreSQL's rights are its operators' to grant, table by table."""
    from sqlalchemy.exc import DBAPIError

    from .config import masked_url
    from .storage.engine import make_engine, sqlite_read_only

    try:
        engine = make_engine(database_url, pool_size=1)
    except ImportError as exc:  # the driver: psycopg comes with grafeas-py[postgres]
        raise Unreachable(
            f"cannot connect to the database at {masked_url(database_url)}: the module {exc.name} is not installed"
        ) from None
    try:
        with engine.connect() as conn:
            if write and engine.dialect.name == "sqlite":
                conn.exec_driver_sql(WRITE_PROBE)  # rolled back as the connection closes
    except DBAPIError as exc:
        read_only = sqlite_read_only(exc)  # also as it connects: its directory, where the -wal file goes
        if read_only:
            raise ReadOnly(f"cannot write to the database at {masked_url(database_url)}: {read_only}") from None
        reason = (str(exc.orig).strip().splitlines() or ["no reason given"])[0]
        raise Unreachable(f"cannot connect to the database at {masked_url(database_url)}: {reason}") from None
    finally:
        engine.dispose()


def refuse_read_only(database_url: str) -> None:
    """ReadOnly when `database_url` names a SQLite file there is that cannot be written, as a server starts
    without migrating; a file yet to be made (its first worker makes it) and PostgreSQL are not asked."""
    if database_url.startswith("sqlite") and not missing_sqlite_file(database_url):
        reach(database_url, write=True)


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file `url` names, if there is none there (in memory: none is named)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from sqlalchemy.engine import make_url

    if not url.startswith("sqlite"):
        return None
    parsed = make_url(url)
    path = parsed.database
    if path and path.startswith("file:") and str(parsed.query.get("uri", "")).lower() in ("true", "1"):
        uri = urlsplit(path)  # sqlite:///file:PATH?mode=ro&uri=true
        if "memory" in (str(parsed.query.get("mode")), *parse_qs(uri.query).get("mode", [])):
            return None
        path = unquote(uri.path)
    if not path or path == ":memory:" or os.path.exists(path):
        return None
    return path


class NotMigratable(Exception):
    """The schema cannot be moved or checked as asked; the message says why and what to do, in one line."""


def stored_revision(database_url: str) -> str | None:
    """The revision the database is at, as stored (None: never migrated), known to this release or not."""
    from alembic.runtime.migration import MigrationContext

    from .storage.engine import make_engine

    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _known(database_url: str) -> str | None:
    """The stored revision, if this release knows it; else NotMigratable (a newer release migrated it)."""
    revision = stored_revision(database_url)
    if revision is not None and revision not in revisions():
        raise NotMigratable(schema_problem(revision, head()))
    return revision


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic.util import CommandError

    stored = _known(database_url)
    if stored is not None and revision in _below(stored):
        # Alembic would do nothing and succeed: a caller meaning to roll back would believe it had.
        raise NotMigratable(
            f"the database is at revision {stored}, past {revision}: 'db upgrade' only goes forward;"
            f" 'db downgrade {revision}' goes back"
        )
    try:
        command.upgrade(alembic_config(database_url), revision)
    except CommandError as exc:  # a target this release does not know
        raise NotMigratable(f"cannot upgrade to {revision!r}: {exc}") from None
    except AssertionError:  # what Alembic makes of a target such as "@"
        raise NotMigratable(f"cannot upgrade to {revision!r}: no revision of this release has that name") from None


def downgrade(database_url: str, revision: str) -> None:
    """Migrate back to `revision`, a revision this release knows below the stored one: what later revisions
    added (tables, columns, the data in them) is dropped, so that the release of `revision` can run."""
    stored = _known(database_url)
    revision = head() if revision == "head" else revision  # as `upgrade` takes it: then nothing is undone
    if revision not in revisions():
        raise NotMigratable(f"cannot downgrade to {revision!r}: no revision of this release has that name")
    if stored is None or revision not in _below(stored):
        raise NotMigratable(f"the database is at revision {stored or 'none'}, not past {revision}: nothing to undo")
    try:
        command.downgrade(alembic_config(database_url), revision)
    except RuntimeError as exc:  # a migration refusing to drop what cannot be rebuilt (0007, 0009)
        raise NotMigratable(f"cannot downgrade to {revision}: {exc}") from None


def current(database_url: str) -> str:
    """The revision the database is at, as `db current` prints it."""
    revision = stored_revision(database_url)
    if revision is None:
        return "none (never migrated): run 'grafeas-py db upgrade'"
    if revision not in revisions():
        return f"{revision} (unknown to this release, at {head()}: a newer release migrated it)"
    return f"{revision} (head)" if revision == head() else f"{revision} (head is {head()})"


def check(database_url: str) -> None:
    """Raise if the models and the migrated schema differ (`alembic check`); NotMigratable if the database
    is not at head, where a diff would only say so at length."""
    problem = schema_problem(_known(database_url), head())
    if problem:
        raise NotMigratable(problem)
    command.check(alembic_config(database_url))
