"""Record which fields the policy updates made before 0006 changed, so they read as updates.

0006 added `policy_revisions.changed_fields` empty for the revisions already stored, and a revision
without changed fields reads as a CREATE: a policy updated under 0004 or 0005 showed two CREATEs in
a row in its revisions. Both documents of such an update are kept, so its changed fields are
computed from them, as the server computes them now. A revision after a tombstone was a create
again and stays one.

Downgrading keeps them: 0006's column holds them either way.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from grafeas_py.fieldmask import changed_paths
from grafeas_py.gate.service import OUTPUT_ONLY

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_REVISIONS = sa.table(
    "policy_revisions",
    sa.column("pk"),
    sa.column("project_id"),
    sa.column("policy_id"),
    sa.column("revision"),
    sa.column("deleted"),
    sa.column("data", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.column("changed_fields", sa.JSON),
)


def upgrade() -> None:
    conn = op.get_bind()
    r = _REVISIONS.c
    # Only policies with a revision that may be such an update: few, and each read whole at once.
    policies = conn.execute(
        sa.select(r.project_id, r.policy_id).where(r.revision > 1, r.changed_fields.is_(None)).distinct()
    ).all()
    for project_id, policy_id in policies:
        rows = conn.execute(
            sa.select(r.pk, r.revision, r.deleted, r.data, r.changed_fields)
            .where(r.project_id == project_id, r.policy_id == policy_id)
            .order_by(r.revision)
        ).all()
        for before, row in zip(rows, rows[1:], strict=False):
            if row.changed_fields is not None or row.deleted or before.deleted or row.revision != before.revision + 1:
                continue
            changed = changed_paths(_document(before.data), _document(row.data))
            conn.execute(_REVISIONS.update().where(r.pk == row.pk).values(changed_fields=changed))


def _document(data) -> dict:
    return {k: v for k, v in (data or {}).items() if k not in OUTPUT_ONLY}


def downgrade() -> None:
    pass
