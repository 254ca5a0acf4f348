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

from sqlalchemy import Text, cast, false, func, insert, literal, literal_column, null, select, tuple_, union_all

from ..errors import InvalidArgument, NotFound
from ..names import note_name, occurrence_name, project_name
from ..wire.timestamps import from_micros
from .base import Page, PageRequest, more_follow
from .key_lists import one_of
from .keyset import rows_within_bytes
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
    "artifact_key",
]
# A decision's place in the timeline key (time, id, revision): occurrence revisions count from 1.
_DECISION = 0


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
        uri, key = (table.c.resource_uri, table.c.artifact_key) if resource_type == "occurrence" else (null(), null())
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
            key,
        ).where(table.c.project_id == project_id, id_column == resource_id, table.c.revision == revision)
        conn.execute(insert(history).from_select(_HISTORY_COLUMNS, source))

    @staticmethod
    def _bury(
        conn, resource_type: str, project_id: str, resource_id: str, row, resource_uri=None, artifact_key=None
    ) -> int:
        """Keep a deleted row's last revision and a tombstone after it; the tombstone's revision."""
        common = dict(
            project_id=project_id,
            resource_type=resource_type,
            resource_id=resource_id,
            resource_uri=resource_uri,
            artifact_key=artifact_key,
        )
        last = dict(
            common,
            revision=row.revision,
            deleted=False,
            updated_by=row.updated_by,
            update_time=row.update_time,
            changed_fields=row.changed_fields,
            data=row.data,
        )
        tombstone = dict(
            common,
            revision=row.revision + 1,
            deleted=True,
            updated_by=actor(),
            update_time=now_micros(),
            changed_fields=None,
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
                    one_of(history.c.resource_id, ids[start : start + _CHUNK]),
                )
                .group_by(history.c.resource_id)
            )
            found.update((resource_id, last + 1) for resource_id, last in conn.execute(query))
        return found

    # ---- reading ---------------------------------------------------------------------------

    def deleted_occurrence_uris(self, project_id: str, occurrence_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._read() as conn:
            for start in range(0, len(occurrence_ids), _CHUNK):
                query = (
                    select(history.c.resource_id, history.c.resource_uri)
                    .where(
                        history.c.project_id == project_id,
                        history.c.resource_type == "occurrence",
                        one_of(history.c.resource_id, occurrence_ids[start : start + _CHUNK]),
                        history.c.deleted,
                        history.c.resource_uri.is_not(None),
                    )
                    .order_by(history.c.revision)  # the last tombstone's, should there be several
                )
                found.update(conn.execute(query).all())
        return found

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
            rows = conn.execute(rows_within_bytes(query, ["revision"], page.max_bytes)).all()
        name = _NAMES[resource_type](project_id, resource_id)
        if not rows and not page.after:
            raise NotFound(f"{resource_type} {name!r} has no history: it never existed")
        more = more_follow(rows, page)
        rows = rows[: page.size]
        items = [revision_entry(resource_type, name, r, r.update_time) for r in rows]
        return Page(items=items, last=rows[-1].revision if rows else page.after, more=more)

    def artifact_history(
        self, project_id: str, resource_uris: list[str], artifact_keys: list[str], page: PageRequest
    ) -> Page:
        """One artifact's timeline in a project: every revision of its occurrences and every gate
        decision about it, stored under any of `resource_uris` (its spellings) or kept with one of its
        `artifact_keys` (any other), by time (ties: by occurrence or decision id, then revision)."""
        if page.after and not _is_timeline_key(page.after):
            raise InvalidArgument("pageToken is from an earlier version of this list: list again from the first page")
        with self._read() as conn:
            rows = conn.execute(artifact_history_query(project_id, resource_uris, artifact_keys, page)).all()
        more = more_follow(rows, page)
        rows = rows[: page.size]
        items = []
        for r in rows:
            if r.revision == _DECISION:
                items.append({"time": from_micros(r.time), "decision": r.data})
            else:
                name = occurrence_name(project_id, r.id)
                revision = revision_entry("occurrence", name, r, r.time)
                items.append({"time": revision["updateTime"], "occurrenceRevision": revision})
        last = (rows[-1].time, rows[-1].id, rows[-1].revision) if rows else page.after
        return Page(items=items, last=last, more=more)


def artifact_history_query(project_id: str, resource_uris: list[str], artifact_keys: list[str], page: PageRequest):
    """ArtifactHistory: the page's events in key order (time, id, revision). An update or delete moves a
    revision from `occurrences` to `history` with its key, so a page walk neither skips nor repeats it.

    Each source (a table, under one spelling of the URI, or by artifact key for the rows stored under
    the others) gives its first page after the key, and only those are sorted. History and decisions,
    which grow with every update and admission, give theirs from an index in key order; current
    occurrences, one per finding, are found by (project, URI) or (project, key) and sorted, so batch
    creates maintain no timeline index. One statement, so a revision moving between sources mid-read
    is seen once."""

    def by_spelling(uri: str):
        return lambda t: (t.resource_uri == uri,)

    # A row kept with the key under one of the spellings is read by its spelling already.
    def by_key(t):
        return (t.artifact_key.in_(artifact_keys), t.resource_uri.not_in(resource_uris))

    arms = []
    for matches in [*map(by_spelling, resource_uris), by_key]:
        for events, where, key in _timeline_sources(project_id, matches):
            if page.after:
                where += (tuple_(*key) > tuple_(*page.after[: len(key)]),)
            arms.append(select(events.where(*where).order_by(*key).limit(page.size + 1).subquery()))
    events = union_all(*arms).subquery()
    query = select(events).order_by(events.c.time, events.c.id, events.c.revision).limit(page.size + 1)
    return rows_within_bytes(query, ["time", "id", "revision"], page.max_bytes)


def _timeline_sources(project_id: str, matches) -> list:
    """(events, conditions, key columns) of each table for the rows `matches(columns)` picks."""
    h, o, d = history.c, occurrences.c, decisions.c
    return [
        (
            _event(h.update_time, h.resource_id, h.revision, h.deleted, h.updated_by, h.changed_fields, h.data),
            (h.project_id == project_id, *matches(h), h.resource_type == "occurrence"),
            (h.update_time, h.resource_id, h.revision),
        ),
        (
            _event(o.update_time, o.occurrence_id, o.revision, false(), o.updated_by, o.changed_fields, o.data),
            (o.project_id == project_id, *matches(o)),
            (o.update_time, o.occurrence_id, o.revision),
        ),
        (
            _event(
                d.evaluate_time, d.decision_id, literal_column(str(_DECISION)), false(), _NO_AUTHOR, _NO_FIELDS, d.data
            ),
            (d.project_id == project_id, *matches(d)),
            (d.evaluate_time, d.decision_id),  # its revision, 0, is below any other: (time, id) decides
        ),
    ]


_EVENT = ("time", "id", "revision", "deleted", "updated_by", "changed_fields", "data")
# Typed, as PostgreSQL cannot match an untyped NULL with json across a UNION of subqueries.
_NO_AUTHOR, _NO_FIELDS = cast(null(), Text), cast(null(), history.c.changed_fields.type)


def _event(*columns):
    """A source of timeline events, its columns named alike."""
    return select(*(column.label(name) for column, name in zip(columns, _EVENT, strict=True)))


def _is_timeline_key(after) -> bool:
    """Whether a page token carries this version's key (tokens issued before 0010 held (time, source, pk))."""
    return isinstance(after, tuple) and tuple(map(type, after)) == (int, str, int)
