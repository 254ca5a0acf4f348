"""Alembic environment: the database URL comes from the config grafeas_py.db builds."""

from alembic import context
from sqlalchemy import text

from grafeas_py.storage.engine import make_engine
from grafeas_py.storage.tables import metadata

config = context.config

# The advisory lock that serialises upgrades of one PostgreSQL database: fixed, and unlikely to be
# another application's ("grafeas" in ASCII). Locks are per database, so schemas of one database
# (tests, side-by-side installs) upgrade one at a time as well.
MIGRATION_LOCK = 0x67726166656173


def _for_dialect(dialect: str):
    """Compare only the objects meant for this database (GIN indexes exist on PostgreSQL alone)."""

    def include_object(obj, _name, type_, _reflected, _compare_to):
        wanted = getattr(obj, "info", {}).get("dialect")
        return type_ != "index" or wanted in (None, dialect)

    return include_object


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"), pool_size=1)
    # write: BEGIN IMMEDIATE on SQLite, so that upgrades starting together queue for the write lock instead
    # of failing as each tries to write after reading.
    with engine.connect().execution_options(write=True) as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            # SQLite's DDL is transactional too (the engine issues BEGIN itself): one transaction for all
            # the steps, so that a step that fails or refuses leaves the schema where it was, not halfway.
            transactional_ddl=True,
            compare_type=True,
            include_object=_for_dialect(connection.dialect.name),
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Instances starting at once would each find no alembic_version and create it, and all
                # but one fail on a unique violation. Taken before Alembic reads the revision, the lock
                # lets one upgrade at a time; the next reads the revision the last committed. It ends
                # with the transaction, which holds every migration (PostgreSQL's DDL is transactional).
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
