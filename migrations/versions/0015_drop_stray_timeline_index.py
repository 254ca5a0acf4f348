"""Drop the index `ix_occurrences_timeline` where an early 0010 made it.

0010 as first written indexed occurrences by (project, URI, update time, id, revision); it was edited
soon after to leave that index out, since the timeline reads occurrences' history, not occurrences.
A database migrated by the first version keeps the index: every insert pays for it, and `db check`
names it as drift. Dropped where it exists; elsewhere this does nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_occurrences_timeline")


def downgrade() -> None:
    pass  # no release after the edit had the index
