"""Index an artifact's timeline in an order an update or delete does not change.

Its events were paged by (time, source table, pk), and an update or delete moves a revision from
`occurrences` to `history` under a new pk, so a page walk skipped it. They are now paged by (time,
id, revision), which the revision keeps wherever it is stored. History and decisions, which grow
with every update and every admission, get an index in that order, so a page reads a few rows of
each; an artifact's current occurrences are found by (project, URI) as before and sorted, which
spares every batch create the cost of one more index on `occurrences`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_history_timeline", "history", ["project_id", "resource_uri", "update_time", "resource_id", "revision"]
    )
    op.drop_index(op.f("ix_history_project_id_resource_uri_update_time"), "history")
    op.create_index(
        "ix_decisions_timeline", "decisions", ["project_id", "resource_uri", "evaluate_time", "decision_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_timeline", "decisions")
    op.create_index(
        op.f("ix_history_project_id_resource_uri_update_time"), "history", ["project_id", "resource_uri", "update_time"]
    )
    op.drop_index("ix_history_timeline", "history")
