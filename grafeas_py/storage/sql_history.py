"""Revision history of projects, notes and occurrences, written in the transaction of each change.

A resource's current row is its newest revision: it holds the revision number, who made it
(`updated_by`), when (`update_time`) and, for an update, the field paths it changed. So a create
writes no history row (revision 1 is the row itself, and a batch of 1000 occurrences writes 1000
rows, not 2000); an update first copies the row it replaces into `history`; a delete copies the
last revision and adds a tombstone. A resource's history is its history rows and its current row,
read as one union in revision order, so it stays readable after a delete.
"""

from __future__ import annotations

import time

from sqlalchemy import false, func, insert, literal, literal_column, null, select, tuple_, union_all

from ..errors import NotFound
from ..names import note_name, occurrence_name, project_name
from ..wire.timestamps import from_micros
from .base import Page, PageRequest
from .sql_auth import actor
from .tables import decisions, history, notes, occurrences

_CHUNK = 500
_TABLES = {"note": (notes, notes.c.note_id), "occurrence": (occurrences, occurrences.c.occurrence_id)}
_NAMES = {"project": lambda p, _id: project_name(p), "note": note_name, "occurrence": occurrence_name}
_HISTORY_COLUMNS = [
    "project_id",
    "resource_type",
    "resource_id",
    "revision",
    "deleted",
    "updated_by",
    "update_time",
    "changed_fields",
    "resource_uri",
    "data",
]
# Sources of an artifact's timeline, in the order that breaks ties between events of the same instant.
_KEPT, _CURRENT, _DECISION = 0, 1, 2


def now_micros() -> int:
    return time.time_ns() // 1000


def revision_entry(resource_type: str, name: str, row, when: int) -> dict:
    """One revision as the history endpoints show it; a tombstone carries no document."""
    action = "DELETE" if row.deleted else "CREATE" if row.changed_fields is None else "UPDATE"
    entry = {"name": name, "revision": row.revision, "action": action, "updateTime": from_micros(when)}
    if row.updated_by is not None:
        entry["principal"] = row.updated_by
    if row.changed_fields is not None:
        entry["changedFields"] = row.changed_fields
    if row.data is not None:
        entry[resource_type] = row.data
    return entry


class HistoryStorage:
    """Mixed into SqlStorage: keeping revisions as resources change, and reading them back."""

    # ---- writing, inside the transaction of a change ---------------------------------------

    @staticmethod
    def _supersede(conn, resource_type: str, project_id: str, resource_id: str, revision: int) -> None:
        """Copy the current row into history before an update replaces it (nothing if it left `revision`)."""
        table, id_column = _TABLES[resource_type]
        uri = table.c.resource_uri if resource_type == "occurrence" else null()
        source = select(
            table.c.project_id,
            literal(resource_type),
            id_column,
            table.c.revision,
            false(),
            table.c.updated_by,
            table.c.update_time,
            table.c.changed_fields,
            uri,
            table.c.data,
        ).where(table.c.project_id == project_id, id_column == resource_id, table.c.revision == revision)
        conn.execute(insert(history).from_select(_HISTORY_COLUMNS, source))

    @staticmethod
    def _bury(conn, resource_type: str, project_id: str, resource_id: str, row, resource_uri=None) -> int:
        """Keep a deleted row's last revision and a tombstone after it; the tombstone's revision."""
        common = dict(project_id=project_id, resource_type=resource_type, resource_id=resource_id)
        last = dict(
            common,
            revision=row.revision,
            deleted=False,
            updated_by=row.updated_by,
            update_time=row.update_time,
            changed_fields=row.changed_fields,
            resource_uri=resource_uri,
            data=row.data,
        )
        tombstone = dict(
            common,
            revision=row.revision + 1,
            deleted=True,
            updated_by=actor(),
            update_time=now_micros(),
            changed_fields=None,
            resource_uri=resource_uri,
            data=None,
        )
        conn.execute(insert(history), [last, tombstone])
        return row.revision + 1

    @staticmethod
    def _first_revisions(conn, resource_type: str, project_id: str, ids: list[str]) -> dict[str, int]:
        """The first revision of each re-created resource among `ids`: one after its last tombstone."""
        found: dict[str, int] = {}
        for start in range(0, len(ids), _CHUNK):
            query = (
                select(history.c.resource_id, func.max(history.c.revision))
                .where(
                    history.c.project_id == project_id,
                    history.c.resource_type == resource_type,
                    history.c.resource_id.in_(ids[start : start + _CHUNK]),
                )
                .group_by(history.c.resource_id)
            )
            found.update((resource_id, last + 1) for resource_id, last in conn.execute(query))
        return found

    # ---- reading ---------------------------------------------------------------------------

    def list_revisions(self, resource_type: str, project_id: str, resource_id: str, page: PageRequest) -> Page:
        """Every revision of a note or occurrence, oldest first, including those before a delete."""
        table, id_column = _TABLES[resource_type]
        kept = select(
            history.c.revision,
            history.c.deleted,
            history.c.updated_by,
            history.c.update_time,
            history.c.changed_fields,
            history.c.data,
        ).where(
            history.c.project_id == project_id,
            history.c.resource_type == resource_type,
            history.c.resource_id == resource_id,
            history.c.revision > page.after,
        )
        current = select(
            table.c.revision,
            false(),
            table.c.updated_by,
            table.c.update_time,
            table.c.changed_fields,
            table.c.data,
        ).where(table.c.project_id == project_id, id_column == resource_id, table.c.revision > page.after)
        revisions = union_all(kept, current).subquery()
        query = select(revisions).order_by(revisions.c.revision).limit(page.size + 1)
        with self._read() as conn:
            rows = conn.execute(query).all()
        name = _NAMES[resource_type](project_id, resource_id)
        if not rows and not page.after:
            raise NotFound(f"{resource_type} {name!r} has no history: it never existed")
        more = len(rows) > page.size
        rows = rows[: page.size]
        items = [revision_entry(resource_type, name, r, r.update_time) for r in rows]
        return Page(items=items, last=rows[-1].revision if rows else page.after, more=more)

    def artifact_history(self, project_id: str, resource_uri: str, page: PageRequest) -> Page:
        """One artifact's timeline in a project: every revision of its occurrences and every gate
        decision about it, by time (ties: kept revisions, current ones, decisions; then insertion)."""
        kept = select(
            history.c.update_time.label("time"),
            literal_column(str(_KEPT)).label("source"),
            history.c.pk,
            history.c.resource_id,
            history.c.revision,
            history.c.deleted,
            history.c.updated_by,
            history.c.changed_fields,
            history.c.data,
        ).where(
            history.c.project_id == project_id,
            history.c.resource_uri == resource_uri,
            history.c.resource_type == "occurrence",
        )
        current = select(
            occurrences.c.update_time,
            literal_column(str(_CURRENT)),
            occurrences.c.pk,
            occurrences.c.occurrence_id,
            occurrences.c.revision,
            false(),
            occurrences.c.updated_by,
            occurrences.c.changed_fields,
            occurrences.c.data,
        ).where(occurrences.c.project_id == project_id, occurrences.c.resource_uri == resource_uri)
        made = select(
            decisions.c.evaluate_time,
            literal_column(str(_DECISION)),
            decisions.c.pk,
            decisions.c.decision_id,
            null(),
            false(),
            null(),
            null(),
            decisions.c.data,
        ).where(decisions.c.project_id == project_id, decisions.c.resource_uri == resource_uri)
        events = union_all(kept, current, made).subquery()
        key = (events.c.time, events.c.source, events.c.pk)
        query = select(events).order_by(*key).limit(page.size + 1)
        if page.after:
            query = query.where(tuple_(*key) > tuple_(*page.after))
        with self._read() as conn:
            rows = conn.execute(query).all()
        more = len(rows) > page.size
        rows = rows[: page.size]
        items = []
        for r in rows:
            if r.source == _DECISION:
                items.append({"time": from_micros(r.time), "decision": r.data})
            else:
                name = occurrence_name(project_id, r.resource_id)
                revision = revision_entry("occurrence", name, r, r.time)
                items.append({"time": revision["updateTime"], "occurrenceRevision": revision})
        last = (rows[-1].time, rows[-1].source, rows[-1].pk) if rows else page.after
        return Page(items=items, last=last, more=more)
