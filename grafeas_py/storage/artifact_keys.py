"""The artifact keys kept beside resource URIs, computed again by the migrations that change their rule."""

from __future__ import annotations

import sqlalchemy as sa

from ..gate.artifacts import stored_artifact_key

_TABLES = ("occurrences", "history", "decisions")
_CHUNK = 5000


def recompute_artifact_keys(conn) -> None:
    """Write each stored artifact key that this release's `stored_artifact_key` computes otherwise."""
    for name in _TABLES:
        table = sa.table(name, sa.column("pk"), sa.column("resource_uri"), sa.column("artifact_key"))
        after = 0
        while True:  # by key, a chunk at a time: a table of millions is never held at once
            rows = conn.execute(
                sa.select(table.c.pk, table.c.resource_uri, table.c.artifact_key)
                .where(table.c.pk > after, table.c.resource_uri.is_not(None))
                .order_by(table.c.pk)
                .limit(_CHUNK)
            ).all()
            if not rows:
                break
            changed = [{"row": pk, "key": key} for pk, uri, kept in rows if (key := stored_artifact_key(uri)) != kept]
            if changed:
                conn.execute(
                    table.update().where(table.c.pk == sa.bindparam("row")).values(artifact_key=sa.bindparam("key")),
                    changed,
                )
            after = rows[-1].pk
