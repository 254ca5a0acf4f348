"""GIN indexes over documents on PostgreSQL, for filters on any field.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no GIN; its filters on documents scan within the key-column index ranges
    for table in ("notes", "occurrences"):
        op.create_index(
            f"ix_{table}_data", table, ["data"], postgresql_using="gin", postgresql_ops={"data": "jsonb_path_ops"}
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("occurrences", "notes"):
        op.drop_index(f"ix_{table}_data", table)
