"""Keep the artifact key beside history rows and decisions, for an artifact's timeline.

0012 let the gate find occurrences stored under another spelling of an image (a tag beside the
digest, `http://`, a host in capitals, Docker Hub's other names) by `artifact_key`; the artifact
timeline still read history rows and decisions by a few spellings only, so an auditor missed the
revisions and decisions kept under the others. They now keep `artifact_key` on the same rule as
occurrences (only where the URI is neither the key nor `https://` + key), indexed only where kept.

The backfill computes keys with this release's `stored_artifact_key`, as 0012 did.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from grafeas_py.gate.artifacts import stored_artifact_key

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEPT = sa.text("artifact_key IS NOT NULL")
_CHUNK = 5000
_INDEXES = {
    "history": (
        "ix_history_artifact_timeline",
        ["project_id", "artifact_key", "update_time", "resource_id", "revision"],
    ),
    "decisions": ("ix_decisions_artifact_timeline", ["project_id", "artifact_key", "evaluate_time", "decision_id"]),
}


# SQLite rebuilds a table to drop a column; the rebuilt table keeps AUTOINCREMENT (ids never reused) only
# if told, as the models declare it.
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    conn = op.get_bind()
    for name, (index, columns) in _INDEXES.items():
        op.add_column(name, sa.Column("artifact_key", sa.Text()))
        table = sa.table(name, sa.column("pk"), sa.column("resource_uri"), sa.column("artifact_key"))
        after = 0
        while True:  # by key, a chunk at a time: a table of millions is never held at once
            rows = conn.execute(
                sa.select(table.c.pk, table.c.resource_uri)
                .where(table.c.pk > after, table.c.resource_uri.is_not(None))
                .order_by(table.c.pk)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            keys = [{"row": pk, "key": key} for pk, uri in rows if (key := stored_artifact_key(uri)) is not None]
            if keys:
                conn.execute(
                    table.update().where(table.c.pk == sa.bindparam("row")).values(artifact_key=sa.bindparam("key")),
                    keys,
                )
            after = rows[-1].pk
        op.create_index(index, name, columns, sqlite_where=_KEPT, postgresql_where=_KEPT)


def downgrade() -> None:
    for name, (index, _) in _INDEXES.items():
        op.drop_index(index, name)
        with op.batch_alter_table(name, table_kwargs=_AUTOINCREMENT) as batch:
            batch.drop_column("artifact_key")
