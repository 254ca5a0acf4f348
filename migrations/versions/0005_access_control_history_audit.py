"""API tokens, role bindings, revision history and the hash-chained audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(JSONB(), "postgresql")


# SQLite rebuilds a table to drop a column; the rebuilt table keeps AUTOINCREMENT (ids never reused) only
# if told, as the models declare it.
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("expire_time", sa.BigInteger, nullable=True),
        sa.Column("revoke_time", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
    )
    op.create_index(op.f("ix_api_tokens_name"), "api_tokens", ["name"])
    op.create_table(
        "role_bindings",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("member", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_role_bindings")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_role_bindings_project_role_member"), "role_bindings", ["project", "role", "member"], unique=True
    )
    op.create_table(
        "history",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=True),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("changed_fields", sa.JSON, nullable=True),
        sa.Column("resource_uri", sa.Text, nullable=True),
        sa.Column("data", Document, nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_history")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_history_project_id_resource_type_resource_id_revision"),
        "history",
        ["project_id", "resource_type", "resource_id", "revision"],
        unique=True,
    )
    op.create_index(
        op.f("ix_history_project_id_resource_uri_update_time"), "history", ["project_id", "resource_uri", "update_time"]
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    # The current row of each resource is its newest revision: it says who made it and what changed.
    # Nullable, because rows written before this revision have no recorded author.
    for table in ("notes", "occurrences"):
        op.add_column(table, sa.Column("updated_by", sa.Text, nullable=True))
        op.add_column(table, sa.Column("changed_fields", sa.JSON, nullable=True))
    op.add_column("projects", sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    op.add_column("projects", sa.Column("updated_by", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", table_kwargs=_AUTOINCREMENT) as batch:
        batch.drop_column("updated_by")
        batch.drop_column("revision")
    for table in ("occurrences", "notes"):
        with op.batch_alter_table(table, table_kwargs=_AUTOINCREMENT) as batch:
            batch.drop_column("changed_fields")
            batch.drop_column("updated_by")
    op.drop_table("audit_log")
    op.drop_table("history")
    op.drop_table("role_bindings")
    op.drop_table("api_tokens")
