"""Record in each audit entry the credential its principal signed in with.

A principal (`token:ci`) outlives its tokens; after one leaks, an auditor asks what that token
did. Entries sealed before this have no credential and hash as they did.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# SQLite rebuilds a table to drop a column; the rebuilt table keeps AUTOINCREMENT (ids never reused) only
# if told, as the models declare it.
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.add_column("audit_pending", sa.Column("credential", sa.Text(), nullable=True))
    op.add_column("audit_log", sa.Column("credential", sa.Text(), nullable=True))


def downgrade() -> None:
    # Sealed entries hash their credential: without the column the chain no longer verifies.
    query = "SELECT (SELECT count(*) FROM audit_log WHERE credential IS NOT NULL)"
    query += " + (SELECT count(*) FROM audit_pending WHERE credential IS NOT NULL)"
    recorded = op.get_bind().execute(sa.text(query)).scalar()
    if recorded:
        raise RuntimeError(
            f"{recorded} audit entries record a credential, which the previous schema cannot hold: "
            "the audit chain would no longer verify"
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("credential")
    with op.batch_alter_table("audit_pending", table_kwargs=_AUTOINCREMENT) as batch:
        batch.drop_column("credential")
