"""Deploy-gate policies with their revisions, and the decisions made under them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("data", Document, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_policies")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_policies_project_id_policy_id"), "policies", ["project_id", "policy_id"], unique=True)
    op.create_index(op.f("ix_policies_project_id_pk"), "policies", ["project_id", "pk"])
    op.create_table(
        "policy_revisions",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("data", Document, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_policy_revisions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_policy_revisions_project_id_policy_id_revision"),
        "policy_revisions",
        ["project_id", "policy_id", "revision"],
        unique=True,
    )
    op.create_table(
        "decisions",
        sa.Column("pk", Serial, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("policy_id", sa.Text, nullable=False),
        sa.Column("policy_revision", sa.Integer, nullable=False),
        sa.Column("resource_uri", sa.Text, nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("evaluate_time", sa.BigInteger, nullable=False),
        sa.Column("data", Document, nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_decisions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_decisions_project_id_decision_id"), "decisions", ["project_id", "decision_id"], unique=True
    )
    op.create_index(op.f("ix_decisions_project_id_pk"), "decisions", ["project_id", "pk"])
    op.create_index(op.f("ix_decisions_project_id_resource_uri_pk"), "decisions", ["project_id", "resource_uri", "pk"])
    op.create_index(op.f("ix_decisions_project_id_policy_id_pk"), "decisions", ["project_id", "policy_id", "pk"])


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("policy_revisions")
    op.drop_table("policies")
