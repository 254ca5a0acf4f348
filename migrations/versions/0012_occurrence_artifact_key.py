"""Keep the artifact an occurrence's resource URI names, where the URI spells it otherwise.

The gate looked an artifact's occurrences up by a few spellings of the URI it judges, so those
stored under another (`https://gcr.io/acme/app:1.2@sha256:...` for `gcr.io/acme/app@sha256:...`,
`http://`, a host in capitals, Docker Hub's other names) were never read, and an image with a
fixable critical finding stored so was allowed. Occurrences now keep `artifact_key` when their URI is
neither the key nor `https://` + key, indexed only where kept, and the gate reads both.

The backfill computes keys with this release's `artifact_key`; a later change to that rule comes with
a migration of its own that computes them again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from grafeas_py.gate.artifacts import stored_artifact_key

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEX = "ix_occurrences_project_id_artifact_key_pk"
_KEPT = sa.text("artifact_key IS NOT NULL")
_CHUNK = 5000


# SQLite rebuilds a table to drop a column; the rebuilt table keeps AUTOINCREMENT (ids never reused) only
# if told, as the models declare it.
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.add_column("occurrences", sa.Column("artifact_key", sa.Text()))
    conn = op.get_bind()
    occurrences = sa.table("occurrences", sa.column("pk"), sa.column("resource_uri"), sa.column("artifact_key"))
    after = 0
    while True:  # by key, a chunk at a time: a table of millions is never held at once
        rows = conn.execute(
            sa.select(occurrences.c.pk, occurrences.c.resource_uri)
            .where(occurrences.c.pk > after)
            .order_by(occurrences.c.pk)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        keys = [{"row": pk, "key": key} for pk, uri in rows if (key := stored_artifact_key(uri)) is not None]
        if keys:
            conn.execute(
                occurrences.update()
                .where(occurrences.c.pk == sa.bindparam("row"))
                .values(artifact_key=sa.bindparam("key")),
                keys,
            )
        after = rows[-1].pk
    op.create_index(
        _INDEX, "occurrences", ["project_id", "artifact_key", "pk"], sqlite_where=_KEPT, postgresql_where=_KEPT
    )


def downgrade() -> None:
    op.drop_index(_INDEX, "occurrences")
    with op.batch_alter_table("occurrences", table_kwargs=_AUTOINCREMENT) as batch:
        batch.drop_column("artifact_key")
