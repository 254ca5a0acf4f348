"""Indexes for the common filters: occurrences and notes by kind, occurrences by creation time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_notes_project_id_kind_pk"), "notes", ["project_id", "kind", "pk"])
    op.create_index(op.f("ix_occurrences_project_id_kind_pk"), "occurrences", ["project_id", "kind", "pk"])
    op.create_index(op.f("ix_occurrences_project_id_create_time"), "occurrences", ["project_id", "create_time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_occurrences_project_id_create_time"), "occurrences")
    op.drop_index(op.f("ix_occurrences_project_id_kind_pk"), "occurrences")
    op.drop_index(op.f("ix_notes_project_id_kind_pk"), "notes")
