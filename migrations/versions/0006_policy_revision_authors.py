"""Who made each policy revision, and which fields an update changed, as notes and occurrences keep.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# SQLite rebuilds a table to drop a column; the rebuilt table keeps AUTOINCREMENT (ids never reused) only
# if told, as the models declare it.
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.add_column("policy_revisions", sa.Column("updated_by", sa.Text, nullable=True))
    op.add_column("policy_revisions", sa.Column("changed_fields", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_revisions", table_kwargs=_AUTOINCREMENT) as batch:
        batch.drop_column("changed_fields")
        batch.drop_column("updated_by")
