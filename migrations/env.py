"""Alembic environment: the database URL comes from the config grafeas_py.db builds."""

from alembic import context

from grafeas_py.storage.engine import make_engine
from grafeas_py.storage.tables import metadata

config = context.config


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
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=_for_dialect(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
