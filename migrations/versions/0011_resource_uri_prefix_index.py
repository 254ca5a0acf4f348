"""Index occurrences' resource URIs in code point order on PostgreSQL, for has_prefix(resourceUri, ...).

The filter compiled to LIKE, which no index served: a prefix naming one artifact read a whole
project. It is now a range in code point order, which the default collation may not keep (a locale
can ignore punctuation), and text_pattern_ops does; it serves equality as before. SQLite's
BINARY collation is code point order already.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_INDEX = "ix_occurrences_project_id_resource_uri_pk"
_COLUMNS = ["project_id", "resource_uri", "pk"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_INDEX, "occurrences")
    op.create_index(_INDEX, "occurrences", _COLUMNS, postgresql_ops={"resource_uri": "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_INDEX, "occurrences")
    op.create_index(_INDEX, "occurrences", _COLUMNS)
