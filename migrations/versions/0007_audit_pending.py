"""Audit entries are recorded with their change and sealed into the chain afterwards.

Appending to the chain inside every write made writers wait for one another from the append to
their commit, across all instances; now they insert into `audit_pending` and a sealer links the
entries into `audit_log`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", Serial, autoincrement=True, nullable=False),
        sa.Column("txid", sa.BigInteger, nullable=True),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    pending = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_pending")).scalar()
    if pending:  # the previous schema has no place for them
        raise RuntimeError(f"{pending} audit entries are not sealed yet; `grafeas-py audit verify` seals them")
    op.drop_table("audit_pending")
