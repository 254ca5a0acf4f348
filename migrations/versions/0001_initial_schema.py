"""Initial schema: projects, notes and occurrences as JSON documents with indexed key columns.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Time = sa.BigInteger()  # microseconds since the Unix epoch (UTC)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("create_time", Time, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_projects")),
        sa.UniqueConstraint("project_id", name=op.f("uq_projects_project_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "notes",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("note_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("create_time", Time, nullable=False),
        sa.Column("update_time", Time, nullable=False),
        sa.Column("data", Document, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notes")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_notes_project_id_note_id"), "notes", ["project_id", "note_id"], unique=True)
    op.create_index(op.f("ix_notes_project_id_pk"), "notes", ["project_id", "pk"])
    op.create_table(
        "occurrences",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("occurrence_id", sa.String(length=36), nullable=False),
        sa.Column("note_project_id", sa.Text(), nullable=False),
        sa.Column("note_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("resource_uri", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("create_time", Time, nullable=False),
        sa.Column("update_time", Time, nullable=False),
        sa.Column("data", Document, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_occurrences")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_occurrences_project_id_occurrence_id"), "occurrences", ["project_id", "occurrence_id"], unique=True
    )
    op.create_index(op.f("ix_occurrences_project_id_pk"), "occurrences", ["project_id", "pk"])
    op.create_index(
        op.f("ix_occurrences_note_project_id_note_id_pk"), "occurrences", ["note_project_id", "note_id", "pk"]
    )
    op.create_index(
        op.f("ix_occurrences_project_id_resource_uri_pk"), "occurrences", ["project_id", "resource_uri", "pk"]
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("occurrences")
    op.drop_table("notes")
    op.drop_table("projects")
