"""The storage interface over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

from sqlalchemy import (
    Engine,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..auth.sealer import AuditSealer
from ..db import WRITE_PROBE, schema_problem
from ..errors import Aborted, AlreadyExists, FailedPrecondition, NotFound, Unavailable
from ..filtering import parse as parse_filter
from ..names import NoteRef, note_name, occurrence_name, project_name
from ..wire.timestamps import to_micros
from .base import NewOccurrence, OccurrenceUpdate, Page, PageRequest, Storage, page_of
from .engine import dumps_json, sqlite_read_only
from .filter_sql import compile_filter
from .key_lists import one_of
from .keyset import group_page, within_bytes
from .sql_auth import AuthStorage, actor, entry_params
from .sql_gate import GateStorage
from .sql_history import HistoryStorage
from .tables import notes, occurrences, policies, projects, server_secrets

# Lookups by many keys go in chunks so that no statement exceeds a driver's parameter limit.
_CHUNK = 500
# From this many rows on, inserts bypass SQLAlchemy's per-row processing (see _insert_many).
_BULK_THRESHOLD = 50
# Rows go to COPY a group at a time. Made and sent one by one, alternating between preparing an item
# and psycopg's formatting and sending, a batch of 1000 took 12% more CPU (see the README's
# Performance); the server still indexes each group while the next is made.
_COPY_GROUP = 100
# Ids per batchCreate audit entry: as many as one batchCreate takes.
_AUDITED_IDS = 1000
# PostgreSQL's serialization_failure and deadlock_detected: the transaction lost to a concurrent one
# and was rolled back whole, so it may simply be run again.
LOST_TO_CONCURRENT = frozenset({"40001", "40P01"})


# Statements built once: the hot single-row lookups skip SQLAlchemy's per-call construction.
_GET_OCCURRENCE = select(occurrences.c.data).where(
    occurrences.c.project_id == bindparam("project_id"), occurrences.c.occurrence_id == bindparam("occurrence_id")
)
_GET_NOTE = select(notes.c.data).where(
    notes.c.project_id == bindparam("project_id"), notes.c.note_id == bindparam("note_id")
)
_NOTE_KIND = select(notes.c.kind).where(
    notes.c.project_id == bindparam("project_id"), notes.c.note_id == bindparam("note_id")
)
# A create holds its project's row, where there is one, until it commits: a delete of the project
# waits for it and then sees what it wrote, or deletes first and the create writes to a project that
# no longer has a row, as to any project never created (see `delete_project`).
_HOLD_PROJECT = (
    select(projects.c.pk)
    .where(projects.c.project_id == bindparam("project_id"))
    .with_for_update(read=True, key_share=True)
)
# The notes of occurrences being created, held as a foreign key would hold them: a delete of one waits
# until the occurrences are committed, so a note created again under its id sees them.
_HOLD_NOTE_KINDS = (
    select(notes.c.note_id, notes.c.kind)
    .where(notes.c.project_id == bindparam("project_id"), one_of(notes.c.note_id, name="note_ids"))
    .with_for_update(read=True, key_share=True)
)
# PostgreSQL: the insert, on the condition that its note exists with its kind, and the audit entry
# recorded only for a row inserted. The note and the project are held as `_HOLD_NOTE_KINDS` and
# `_HOLD_PROJECT` hold them (the count makes the one row to insert, once the project is held). The
# casts give each parameter one type wherever it is used.
_CREATE_OCCURRENCE_IF_NOTE_MATCHES = """
WITH project AS (
    SELECT 1 FROM projects WHERE project_id = %(project_id)s FOR KEY SHARE
), created AS (
    INSERT INTO occurrences (project_id, occurrence_id, note_project_id, note_id, kind, resource_uri,
                             artifact_key, revision, create_time, update_time, data, updated_by)
    SELECT %(project_id)s, %(occurrence_id)s, %(note_project_id)s, %(note_id)s, CAST(%(kind)s AS VARCHAR),
           %(resource_uri)s, %(artifact_key)s, %(revision)s, %(create_time)s, %(update_time)s,
           CAST(%(data)s AS JSONB), %(updated_by)s
    FROM (SELECT count(*) FROM project) AS held
    WHERE EXISTS (SELECT 1 FROM notes
                  WHERE project_id = %(note_project_id)s AND note_id = %(note_id)s AND kind = CAST(%(kind)s AS VARCHAR)
                  FOR KEY SHARE)
      AND (CAST(%(schema_head)s AS VARCHAR) IS NULL
           OR EXISTS (SELECT 1 FROM alembic_version WHERE version_num = %(schema_head)s))
    RETURNING 1
)
INSERT INTO audit_pending (txid, time, principal, credential, action, resource, detail)
SELECT pg_current_xact_id()::text::bigint, %(audit_time)s, %(audit_principal)s, %(audit_credential)s,
       %(audit_action)s, %(audit_resource)s, %(audit_detail)s
FROM created
RETURNING 1
"""
_SCHEMA_REVISION = text("SELECT version_num FROM alembic_version")
_NOTE_KINDS = select(notes.c.note_id, notes.c.kind).where(
    notes.c.project_id == bindparam("project_id"), one_of(notes.c.note_id, name="note_ids")
)
_NOTES = select(notes.c.note_id, notes.c.data).where(
    notes.c.project_id == bindparam("project_id"), one_of(notes.c.note_id, name="note_ids")
)
_NOTE_TAKEN = (
    select(notes.c.pk)
    .where(notes.c.project_id == bindparam("project_id"), notes.c.note_id == bindparam("note_id"))
    .exists()
)
# Whether a note id is taken, and the kind of an occurrence of another kind that still names it (kept
# when a note of that kind was deleted), the project held as `_HOLD_PROJECT` holds it: one statement,
# whose probe of the (note project, note id, pk) index finds nothing for an id no occurrence names, so a
# single CreateNote costs no extra round trip.
# The occurrences are asked about only when the id is free (a CASE runs only the branch it takes):
# a create of a note that exists, as CI jobs make to be sure of it, must not read its every occurrence.
_NOTE_ID_HELD = select(
    _NOTE_TAKEN.label("taken"),
    case(
        (_NOTE_TAKEN, None),
        else_=select(occurrences.c.kind)
        .where(
            occurrences.c.note_project_id == bindparam("project_id"),
            occurrences.c.note_id == bindparam("note_id"),
            occurrences.c.kind != bindparam("kind"),
        )
        .limit(1)
        .scalar_subquery(),
    ).label("other_kind"),
    _HOLD_PROJECT.scalar_subquery().label("held"),
)


def _note_ids_by_project(refs: Iterable[NoteRef]) -> dict[str, list[str]]:
    """The distinct note ids of `refs`, grouped by project, in the order given."""
    by_project: dict[str, list[str]] = {}
    for project_id, note_id in dict.fromkeys(refs):
        by_project.setdefault(project_id, []).append(note_id)
    return by_project


def _note_missing(project_id: str, note_id: str) -> NotFound:
    return NotFound(f"note {note_name(project_id, note_id)!r} not found")


def _occurrence_missing(project_id: str, occurrence_id: str) -> NotFound:
    return NotFound(f"occurrence {occurrence_name(project_id, occurrence_id)!r} not found")


def _held_by_other_kind(project_id: str, held: dict[str, tuple[str, str]], what: str = "") -> FailedPrecondition:
    """The refusal to create notes (by id: (kind, other kind)) that occurrences of another kind name;
    `what` says, for more than one, what was not written."""
    problems = [
        f"note {note_name(project_id, note_id)!r} cannot be created as {kind}: {other} occurrences still name it "
        "(kept when a note of that id was deleted), and an occurrence's kind must match its note's"
        for note_id, (kind, other) in held.items()
    ]
    advice = "delete those occurrences first, or give the note another id"
    return FailedPrecondition(f"{what}: " * bool(what) + "; ".join(problems) + "; " + advice)


class SqlStorage(HistoryStorage, AuthStorage, GateStorage, Storage):
    """Storage in one relational database; each method runs in its own transaction.

    Every change also keeps the revision it replaces (see `sql_history`) and records in the audit
    trail (see `sql_auth`), in its own transaction, recording the acting principal (`auth.context`)."""

    def __init__(
        self,
        engine: Engine,
        reader: Engine | None = None,
        audit_key: bytes | None = None,
        schema_head: str | None = None,
    ) -> None:
        self.engine = engine
        # When set, a write commits only into a schema at this revision (see `_write`).
        self.schema_head = schema_head
        # Reads may use an autocommit engine of their own (see `engine.make_engine`).
        self._reader = reader or engine
        self.audit_key = audit_key  # keys the audit chain with HMAC-SHA256 when set
        self._sealer: AuditSealer | None = None

    def seal_in_background(self, interval: float) -> None:
        """Seal recorded audit entries into the chain every `interval` seconds, until `dispose`."""
        self._sealer = AuditSealer(self.seal_audit, interval).start()

    @contextmanager
    def _write(self):
        """A connection in a write transaction (BEGIN IMMEDIATE on SQLite, so writers queue instead of
        failing), committed on success, and returned to the pool whatever happens."""
        with self.engine.connect() as conn, conn.execution_options(write=True).begin():
            yield conn
            self._refuse_other_schema(conn)

    def _refuse_other_schema(self, conn) -> None:
        """Roll back a write into a schema this code was not made for: an instance of the previous release
        still running after `db upgrade` would write rows lacking what the new schema keeps for them (the
        gate reads some of it). Asked last, so that a write that waited for the upgrade's locks sees it."""
        if self.schema_head is None:
            return
        revision = conn.execute(_SCHEMA_REVISION).scalar()
        if revision != self.schema_head:
            raise Unavailable(f"{schema_problem(revision, self.schema_head)}; nothing was written")

    def _read(self):
        """A connection in autocommit mode: for reads, and for writes of exactly one statement."""
        return self._reader.connect()

    # ---- projects --------------------------------------------------------------------------

    def create_project(self, project_id: str, create_time: str) -> dict:
        name = project_name(project_id)
        try:
            with self._write() as conn:
                # The row first, then its number: an insert racing a delete of the project waits for the
                # delete, so the tombstone it leaves is read below and a project made again follows it.
                conn.execute(
                    insert(projects).values(
                        project_id=project_id, create_time=to_micros(create_time), revision=1, updated_by=actor()
                    )
                )
                revision = self._first_revisions(conn, "project", project_id, [project_id]).get(project_id, 1)
                if revision != 1:
                    conn.execute(update(projects).where(projects.c.project_id == project_id).values(revision=revision))
                self._audit(conn, "projects.create", name, {"revision": revision})
        except IntegrityError:
            raise AlreadyExists(f"project {name!r} already exists") from None
        return {"name": name}

    def get_project(self, project_id: str) -> dict:
        with self._read() as conn:
            row = conn.execute(select(projects.c.create_time).where(projects.c.project_id == project_id)).first()
        if row is None:
            raise NotFound(f"project {project_name(project_id)!r} not found")
        return {"name": project_name(project_id)}

    def list_projects(self, page: PageRequest, only: Collection[str] | None = None, filter_=None) -> Page:
        query = select(projects.c.pk, projects.c.project_id).where(
            projects.c.pk > page.after, compile_filter(filter_, projects)
        )
        if only is not None:
            query = query.where(projects.c.project_id.in_(sorted(only)))
        rows = self._page_rows(query.order_by(projects.c.pk), page)
        return page_of([{"name": project_name(r.project_id)} for r in rows], rows, page)

    def delete_project(self, project_id: str) -> None:
        name = project_name(project_id)
        with self._write() as conn:
            # Held first, so that the creates in the project under way (see `_HOLD_PROJECT`) are committed
            # before the checks below look for what they wrote.
            conn.execute(select(projects.c.pk).where(projects.c.project_id == project_id).with_for_update())
            # A policy left behind would keep gating admissions, and a project re-created under the id
            # would inherit it.
            for table, what in ((notes, "notes"), (occurrences, "occurrences"), (policies, "policies")):
                if conn.execute(select(table.c.pk).where(table.c.project_id == project_id).limit(1)).first():
                    raise FailedPrecondition(f"project {name!r} still has {what}; delete them first")
            row = conn.execute(
                delete(projects)
                .where(projects.c.project_id == project_id)
                .returning(projects.c.revision, projects.c.updated_by, projects.c.create_time)
            ).first()
            if row is None:
                raise NotFound(f"project {name!r} not found")
            last = _ProjectRevision(row.revision, row.updated_by, row.create_time, None, {"name": name})
            tombstone = self._bury(conn, "project", project_id, project_id, last)
            self._audit(conn, "projects.delete", name, {"revision": tombstone})

    # ---- notes -----------------------------------------------------------------------------

    def create_notes(self, project_id: str, new_notes: dict[str, dict]) -> list[dict]:
        try:
            with self._write() as conn:
                if len(new_notes) == 1:  # CreateNote: both checks in one prebuilt statement
                    [(note_id, doc)] = new_notes.items()
                    params = {"project_id": project_id, "note_id": note_id, "kind": doc["kind"]}
                    row = conn.execute(_NOTE_ID_HELD, params).one()
                    taken = [note_id] if row.taken else []
                    held = {note_id: row.other_kind} if row.other_kind else {}
                else:
                    self._hold_projects(conn, [project_id])
                    taken = self._existing_note_ids(conn, project_id, list(new_notes))
                    held = {} if taken else self._other_kinds(conn, project_id, new_notes)
                if taken:
                    raise AlreadyExists(f"note {note_name(project_id, taken[0])!r} already exists")
                if held:
                    what = "no notes were created" if len(new_notes) > 1 else ""
                    raise _held_by_other_kind(project_id, {i: (new_notes[i]["kind"], k) for i, k in held.items()}, what)
                self._insert_notes(conn, project_id, new_notes)
        except IntegrityError:  # another writer took an id between our check and our insert
            if len(new_notes) == 1:
                raise AlreadyExists(f"note {note_name(project_id, next(iter(new_notes)))!r} already exists") from None
            raise AlreadyExists("one of the notes already exists; no notes were created") from None
        return list(new_notes.values())

    def _insert_notes(self, conn, project_id: str, new_notes: dict[str, dict]) -> None:
        """Insert notes (by id) whose ids are free, and their audit entry; a re-created note continues
        its numbering after its tombstone.

        Rows go in id order: two batches naming the same notes in other orders then wait for each other
        rather than deadlock."""
        author = actor()
        ids = list(new_notes)
        rows = []
        for note_id, data in sorted(new_notes.items()):
            created = to_micros(data["createTime"])
            rows.append(
                dict(
                    project_id=project_id,
                    note_id=note_id,
                    kind=data["kind"],
                    revision=1,
                    create_time=created,
                    update_time=created,
                    data=data,
                    updated_by=author,
                )
            )
        _insert_many(conn, notes, rows)
        self._continue_numbering(conn, notes, "note", project_id, rows)
        if len(rows) == 1:
            self._audit(conn, "notes.create", note_name(project_id, ids[0]), {"revision": rows[0]["revision"]})
        else:
            self._audit_batch(conn, "notes.batchCreate", project_id, ids)

    @staticmethod
    def _existing_note_ids(conn, project_id: str, note_ids: list[str]) -> list[str]:
        found = []
        for start in range(0, len(note_ids), _CHUNK):
            chunk = note_ids[start : start + _CHUNK]
            query = select(notes.c.note_id).where(notes.c.project_id == project_id, one_of(notes.c.note_id, chunk))
            found.extend(conn.execute(query).scalars())
        position = {note_id: i for i, note_id in enumerate(note_ids)}  # list.index made 1000 of them 9 ms
        return sorted(found, key=position.__getitem__)

    @staticmethod
    def _other_kinds(conn, project_id: str, new_notes: dict[str, dict]) -> dict[str, str]:
        """For the notes to create (by id) that occurrences of another kind name, one such kind, by id."""
        by_kind: dict[str, list[str]] = {}
        for note_id, doc in new_notes.items():
            by_kind.setdefault(doc["kind"], []).append(note_id)
        found: dict[str, str] = {}
        for kind, note_ids in by_kind.items():
            for start in range(0, len(note_ids), _CHUNK):
                found.update(conn.execute(other_kinds_query(project_id, note_ids[start : start + _CHUNK], kind)).all())
        return {note_id: found[note_id] for note_id in new_notes if note_id in found}

    def get_notes(self, refs: Iterable[NoteRef]) -> dict[NoteRef, dict]:
        """The notes among `refs` that exist, looked up per project as `note_kinds` does."""
        by_project = _note_ids_by_project(refs)
        found: dict[NoteRef, dict] = {}
        with self._read() as conn:
            for project_id, note_ids in by_project.items():
                for start in range(0, len(note_ids), _CHUNK):
                    params = {"project_id": project_id, "note_ids": note_ids[start : start + _CHUNK]}
                    found.update((NoteRef(project_id, i), data) for i, data in conn.execute(_NOTES, params))
        return found

    def other_occurrence_kinds(self, wanted: Mapping[NoteRef, str]) -> dict[NoteRef, str]:
        """For each note and kind in `wanted`, an occurrence kind naming the note that is not that kind."""
        if not wanted:
            return {}
        by_project: dict[str, dict[str, dict]] = {}
        for ref, kind in wanted.items():
            by_project.setdefault(ref.project, {})[ref.note_id] = {"kind": kind}
        with self._read() as conn:
            return {
                NoteRef(project_id, note_id): kind
                for project_id, new in by_project.items()
                for note_id, kind in self._other_kinds(conn, project_id, new).items()
            }

    def get_note(self, project_id: str, note_id: str) -> dict:
        with self._read() as conn:
            data = conn.execute(_GET_NOTE, {"project_id": project_id, "note_id": note_id}).scalar()
        if data is None:
            raise _note_missing(project_id, note_id)
        return data

    def get_note_with_revision(self, project_id: str, note_id: str) -> tuple[dict, int]:
        with self._read() as conn:
            row = conn.execute(
                select(notes.c.data, notes.c.revision).where(
                    notes.c.project_id == project_id, notes.c.note_id == note_id
                )
            ).first()
        if row is None:
            raise _note_missing(project_id, note_id)
        return row.data, row.revision

    def list_notes(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        rows = self._rows(notes_query(project_id, page, filter_))
        return page_of([r.data for r in rows], rows, page)

    def update_note(
        self, project_id: str, note_id: str, data: dict, revision: int, changed_fields: Sequence[str] = ()
    ) -> dict:
        missing = lambda: _note_missing(project_id, note_id)  # noqa: E731
        self._update("note", project_id, note_id, revision, data, changed_fields, missing)
        return data

    def delete_note(self, project_id: str, note_id: str) -> None:
        with self._write() as conn:
            query = delete(notes).where(notes.c.project_id == project_id, notes.c.note_id == note_id)
            row = conn.execute(query.returning(*_revision_of(notes))).first()
            if row is None:
                raise _note_missing(project_id, note_id)
            tombstone = self._bury(conn, "note", project_id, note_id, row)
            self._audit(conn, "notes.delete", note_name(project_id, note_id), {"revision": tombstone})

    def note_kinds(self, refs: Iterable[NoteRef]) -> dict[NoteRef, str]:
        """The kinds of those of `refs` that exist, looked up per project.

        A batch names a few hundred notes, mostly of one provider project: `note_id IN (...)` within a
        project is one index scan over an array of keys, where a row-value `(project_id, note_id) IN`
        made PostgreSQL plan an OR of hundreds of index scans (25 ms a query)."""
        by_project = _note_ids_by_project(refs)
        found: dict[NoteRef, str] = {}
        with self._read() as conn:
            for project_id, note_ids in by_project.items():
                for start in range(0, len(note_ids), _CHUNK):
                    chunk = note_ids[start : start + _CHUNK]
                    if len(chunk) == 1:  # the common single create: a prebuilt equality lookup
                        params = {"project_id": project_id, "note_id": chunk[0]}
                        rows = [(chunk[0], kind) for kind in conn.execute(_NOTE_KIND, params).scalars()]
                    else:
                        rows = conn.execute(_NOTE_KINDS, {"project_id": project_id, "note_ids": chunk}).all()
                    found.update((NoteRef(project_id, note_id), kind) for note_id, kind in rows)
        return found

    # ---- occurrences -----------------------------------------------------------------------

    def ingest(
        self,
        project_id: str,
        new_notes: dict[str, dict[str, dict]],
        created: list[NewOccurrence],
        updated: list[OccurrenceUpdate],
    ) -> int:
        """Write one ingested report in one transaction: the notes it lacked (by project, then id), its
        new occurrences and its changed ones; the number of notes created. A note another request
        created since is left as it is (the occurrences on it then check its kind); Aborted, with
        nothing written, if another request wrote any of the occurrences since they were read.

        Each kind of row is written in id order, so that two reports naming the same findings in other
        orders wait for each other rather than deadlock; should one lose to a concurrent writer all the
        same, it is Aborted too, for the caller to read again and retry."""
        rows = sorted(_occurrence_rows(project_id, created), key=operator.itemgetter("occurrence_id"))
        notes_created = 0
        try:
            with self._write() as conn:
                self._hold_projects(conn, [project_id, *new_notes])
                for note_project, docs in sorted(new_notes.items()):
                    # Two reports sharing notes, read before either wrote: an existing note is left as it is.
                    taken = set(self._existing_note_ids(conn, note_project, list(docs)))
                    docs = {note_id: doc for note_id, doc in sorted(docs.items()) if note_id not in taken}
                    if not docs:
                        continue
                    held = self._other_kinds(conn, note_project, docs)
                    if held:
                        kinds = {i: (docs[i]["kind"], k) for i, k in held.items()}
                        raise _held_by_other_kind(note_project, kinds, "nothing was written")
                    self._insert_notes(conn, note_project, docs)
                    notes_created += len(docs)
                if self._taken_occurrence_ids(conn, project_id, [row["occurrence_id"] for row in rows]):
                    raise _written_meanwhile()
                if rows:
                    self._insert_occurrences(conn, project_id, rows)
                    self._hold_notes(conn, rows)
                for change in sorted(updated, key=operator.attrgetter("occurrence_id")):
                    args = (change.occurrence_id, change.revision, change.data, change.changed_fields)
                    self._replace(conn, "occurrence", project_id, *args, _written_meanwhile)
        except IntegrityError:  # a concurrent request inserted or updated one of them first
            raise _written_meanwhile() from None
        except DBAPIError as exc:  # a deadlock or serialization failure PostgreSQL rolled back
            if getattr(exc.orig, "sqlstate", None) not in LOST_TO_CONCURRENT:
                raise
            raise _written_meanwhile() from None
        return notes_created

    def create_occurrences_unless_taken(self, project_id: str, new: list[NewOccurrence]) -> list[dict] | None:
        """Create all of them in one transaction, or nothing (None) if any of their ids is taken or ever was."""
        rows = list(_occurrence_rows(project_id, new))
        ids = [occ.occurrence_id for occ in new]
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    self._hold_projects(conn, [project_id])
                    if self._taken_occurrence_ids(conn, project_id, ids):
                        return None
                    _insert_many(conn, occurrences, rows)
                    # The ids are the key's only record: a deleted one's tombstone keeps it taken, or the
                    # key would create under that name again, for another artifact even. Read after the
                    # insert, which waits for a delete of one under way, so that its tombstone is seen.
                    if self._first_revisions(conn, "occurrence", project_id, ids):
                        raise _UsedBefore
                    self._hold_notes(conn, rows)
                    self._audit_created(conn, project_id, rows)
                return [occ.data for occ in new]
            except _UsedBefore:  # rolled back
                return None
            except IntegrityError:  # a concurrent twin inserted them first: now they are taken
                if attempt == 2:
                    raise Aborted("another request is writing the same occurrences; retry") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _hold_projects(conn, project_ids: Iterable[str]) -> None:
        """Hold the rows of the projects a create writes to (see `_HOLD_PROJECT`); SQLite has but one
        writer at a time anyway."""
        if conn.dialect.name == "postgresql":
            for project_id in sorted(set(project_ids)):
                conn.execute(_HOLD_PROJECT, {"project_id": project_id})

    @staticmethod
    def _hold_notes(conn, rows: list[dict]) -> None:
        """Hold the notes of occurrence rows about to be committed (see `_HOLD_NOTE_KINDS`): the caller
        checked them before this transaction began, so Aborted if one was deleted since, or replaced by
        a note of another kind."""
        kinds = {NoteRef(row["note_project_id"], row["note_id"]): row["kind"] for row in rows}
        found: dict[NoteRef, str] = {}
        for project_id, note_ids in _note_ids_by_project(sorted(kinds)).items():
            for start in range(0, len(note_ids), _CHUNK):
                params = {"project_id": project_id, "note_ids": note_ids[start : start + _CHUNK]}
                found.update((NoteRef(project_id, i), kind) for i, kind in conn.execute(_HOLD_NOTE_KINDS, params))
        if found != kinds:
            raise _written_meanwhile()

    @staticmethod
    def _taken_occurrence_ids(conn, project_id: str, ids: list[str]) -> set[str]:
        taken = set()
        for start in range(0, len(ids), _CHUNK):
            query = occurrences_by_id_query(project_id, ids[start : start + _CHUNK], occurrences.c.occurrence_id)
            taken.update(conn.execute(query).scalars())
        return taken

    def _insert_occurrences(self, conn, project_id: str, rows: list[dict]) -> None:
        """Insert rows whose ids may have been used before: ingestion's ids, derived from each finding
        and its artifact, come back after a delete, and their revisions continue after the tombstone."""
        _insert_many(conn, occurrences, rows)
        self._continue_numbering(conn, occurrences, "occurrence", project_id, rows)
        self._audit_created(conn, project_id, rows)

    def _continue_numbering(self, conn, table, resource_type: str, project_id: str, rows: list[dict]) -> None:
        """Renumber rows just inserted at revision 1 whose id was used before: after its last tombstone.

        Read after the insert, not before: on PostgreSQL the insert waits for a delete of the same id
        under way, so its tombstone is seen here. Read before, a create racing a create and a delete
        reused a revision number already in history, and every later update or delete of it failed."""
        id_key = f"{resource_type}_id"
        again = self._first_revisions(conn, resource_type, project_id, [row[id_key] for row in rows])
        if not again:
            return
        for row in rows:
            row["revision"] = again.get(row[id_key], row["revision"])
        renumber = (
            update(table)
            .where(table.c.project_id == project_id, table.c[id_key] == bindparam("b_id"))
            .values(revision=bindparam("b_revision"))
        )
        conn.execute(renumber, [{"b_id": i, "b_revision": revision} for i, revision in sorted(again.items())])

    def _audit_created(self, conn, project_id: str, rows: list[dict]) -> None:
        if len(rows) == 1:
            self._audit(conn, "occurrences.create", rows[0]["data"]["name"], {"revision": rows[0]["revision"]})
        else:
            self._audit_batch(conn, "occurrences.batchCreate", project_id, [row["occurrence_id"] for row in rows])

    def _audit_batch(self, conn, action: str, project_id: str, ids: list[str]) -> None:
        """One entry per batch of ids as batchCreate takes them, so that an ingested report of any size
        records entries of a bounded size."""
        for start in range(0, len(ids), _AUDITED_IDS):
            self._audit(conn, action, project_name(project_id), {"ids": ids[start : start + _AUDITED_IDS]})

    def create_occurrence_if_note_matches(self, project_id: str, occ: NewOccurrence) -> dict | None:
        """Create one occurrence if its note exists with its kind, checked in the same transaction.

        This is the hot path of CI jobs posting results one by one: on PostgreSQL the check, the
        insert and the audit entry are one statement, so one round trip and one transaction, and its
        plan is prepared once per connection. None: nothing was written."""
        [row] = _occurrence_rows(project_id, [occ])
        if self.engine.dialect.name == "postgresql":
            audited = entry_params("occurrences.create", row["data"]["name"], {"revision": row["revision"]})
            params = {**row, "data": dumps_json(row["data"]), "schema_head": self.schema_head}
            params |= {f"audit_{k}": v for k, v in audited.items()}
            with self._read() as conn:
                return occ.data if _execute_prepared(conn, _CREATE_OCCURRENCE_IF_NOTE_MATCHES, params) else None
        with self._write() as conn:
            params = {"project_id": occ.note.project, "note_id": occ.note.note_id}
            if conn.execute(_NOTE_KIND, params).scalar() != occ.kind:
                return None
            _insert_many(conn, occurrences, [row])
            self._audit_created(conn, project_id, [row])
        return occ.data

    def create_occurrences(self, project_id: str, new: Iterable[NewOccurrence]) -> list[dict]:
        """Write them all in one transaction; an exception from `new` as it is read rolls it back.

        PostgreSQL gets the rows as `new` yields them, so the server parses and indexes the first while
        the caller still prepares the rest. SQLite takes them all first: while Python works, its one
        write lock stays free for others."""
        if self.engine.dialect.name != "postgresql":
            new = list(new)
        with self._write() as conn:
            self._hold_projects(conn, [project_id])
            rows = _insert_many(conn, occurrences, _occurrence_rows(project_id, new))
            self._hold_notes(conn, rows)
            self._audit_created(conn, project_id, rows)
        return [row["data"] for row in rows]

    def get_occurrence(self, project_id: str, occurrence_id: str) -> dict:
        with self._read() as conn:
            data = conn.execute(_GET_OCCURRENCE, {"project_id": project_id, "occurrence_id": occurrence_id}).scalar()
        if data is None:
            raise _occurrence_missing(project_id, occurrence_id)
        return data

    def get_occurrences(self, project_id: str, occurrence_ids: list[str]) -> dict[str, dict]:
        found = self.get_occurrences_with_revisions(project_id, occurrence_ids)
        return {occurrence_id: data for occurrence_id, (data, _) in found.items()}

    def existing_occurrence_ids(self, project_id: str, occurrence_ids: list[str]) -> set[str]:
        with self._read() as conn:
            return self._taken_occurrence_ids(conn, project_id, occurrence_ids)

    def get_occurrences_with_revisions(self, project_id: str, occurrence_ids: list[str]) -> dict[str, tuple[dict, int]]:
        found = {}
        with self._read() as conn:
            for start in range(0, len(occurrence_ids), _CHUNK):
                chunk = occurrence_ids[start : start + _CHUNK]
                columns = occurrences.c.occurrence_id, occurrences.c.data, occurrences.c.revision
                query = occurrences_by_id_query(project_id, chunk, *columns)
                found.update((row.occurrence_id, (row.data, row.revision)) for row in conn.execute(query))
        return found

    def get_occurrence_with_revision(self, project_id: str, occurrence_id: str) -> tuple[dict, int]:
        with self._read() as conn:
            row = conn.execute(
                select(occurrences.c.data, occurrences.c.revision).where(
                    occurrences.c.project_id == project_id, occurrences.c.occurrence_id == occurrence_id
                )
            ).first()
        if row is None:
            raise _occurrence_missing(project_id, occurrence_id)
        return row.data, row.revision

    def list_occurrences(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        with self._read() as conn:
            rows = conn.execute(_occurrences_statement(filter_), _occurrences_params(project_id, page)).all()
        return page_of([r.data for r in rows], rows, page)

    def update_occurrence(
        self, project_id: str, occurrence_id: str, data: dict, revision: int, changed_fields: Sequence[str] = ()
    ) -> dict:
        missing = lambda: _occurrence_missing(project_id, occurrence_id)  # noqa: E731
        self._update("occurrence", project_id, occurrence_id, revision, data, changed_fields, missing)
        return data

    def delete_occurrence(self, project_id: str, occurrence_id: str, revision: int | None = None) -> None:
        where = [occurrences.c.project_id == project_id, occurrences.c.occurrence_id == occurrence_id]
        with self._write() as conn:
            query = delete(occurrences).where(*where)
            returned = (*_revision_of(occurrences), occurrences.c.resource_uri, occurrences.c.artifact_key)
            row = conn.execute(query.returning(*returned)).first()
            if row is None:
                raise _occurrence_missing(project_id, occurrence_id)
            if revision is not None and row.revision != revision:
                raise _changed_meanwhile("delete")  # rolls the delete back
            tombstone = self._bury(
                conn, "occurrence", project_id, occurrence_id, row, row.resource_uri, row.artifact_key
            )
            name = occurrence_name(project_id, occurrence_id)
            self._audit(conn, "occurrences.delete", name, {"revision": tombstone})

    def get_occurrence_note(self, project_id: str, occurrence_id: str) -> dict:
        query = (
            select(occurrences.c.note_project_id, occurrences.c.note_id, notes.c.data)
            .select_from(occurrences)
            .outerjoin(
                notes,
                (notes.c.project_id == occurrences.c.note_project_id) & (notes.c.note_id == occurrences.c.note_id),
            )
            .where(occurrences.c.project_id == project_id, occurrences.c.occurrence_id == occurrence_id)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise _occurrence_missing(project_id, occurrence_id)
        if row.data is None:
            raise _note_missing(row.note_project_id, row.note_id)
        return row.data

    def list_note_occurrences(
        self, note: NoteRef, page: PageRequest, filter_=None, projects: Collection[str] | None = None
    ) -> Page:
        with self._read() as conn:
            exists = conn.execute(
                select(notes.c.pk).where(notes.c.project_id == note.project, notes.c.note_id == note.note_id)
            ).first()
        if exists is None:
            raise _note_missing(note.project, note.note_id)
        rows = self._rows(note_occurrences_query(note, page, filter_, projects))
        return page_of([r.data for r in rows], rows, page)

    def vulnerability_summary(self, project_id: str, filter_=None) -> list[tuple[str, str, int, int]]:
        """(resource URI, severity, total, fixable) for the project's VULNERABILITY occurrences."""
        with self._read() as conn:
            rows = conn.execute(vulnerability_summary_query(project_id, filter_))
            return [(uri, sev, int(total), int(fix or 0)) for uri, sev, total, fix in rows]

    # ---- shared ----------------------------------------------------------------------------

    def _page_rows(self, query, page: PageRequest) -> list:
        return self._rows(query.limit(page.size + 1))

    def _rows(self, query) -> list:
        with self._read() as conn:
            return conn.execute(query).all()

    def _update(self, resource_type, project_id, resource_id, revision, data, changed_fields, missing) -> None:
        """Replace a note or occurrence read at `revision`, in a transaction of its own."""
        try:
            with self._write() as conn:
                self._replace(conn, resource_type, project_id, resource_id, revision, data, changed_fields, missing)
        except IntegrityError:  # a concurrent update kept the same revision first
            raise _changed_meanwhile() from None

    def _replace(self, conn, resource_type, project_id, resource_id, revision, data, changed_fields, missing) -> None:
        """Keep the revision read at `revision` and replace it, compare-and-set on `revision`, so two
        concurrent updates cannot silently overwrite each other; raises `missing()` if it is gone."""
        table = notes if resource_type == "note" else occurrences
        id_column = notes.c.note_id if resource_type == "note" else occurrences.c.occurrence_id
        where = (table.c.project_id == project_id, id_column == resource_id)
        values = dict(
            data=data,
            update_time=to_micros(data["updateTime"]),
            revision=revision + 1,
            updated_by=actor(),
            changed_fields=list(changed_fields),
        )
        # The row is locked before its revision goes into history, as a delete locks it (by deleting it)
        # before burying it: in the other order an update and a delete of one resource each waited for
        # the other's history row, and PostgreSQL broke the deadlock with an error. Its key stays, so
        # occurrences being created on a note (`_HOLD_NOTE_KINDS`) need not wait for its update.
        current = conn.execute(select(table.c.revision).where(*where).with_for_update(key_share=True)).scalar()
        if current is None:
            raise missing()
        if current != revision:
            raise _changed_meanwhile()
        self._supersede(conn, resource_type, project_id, resource_id, revision)
        conn.execute(update(table).where(*where).values(**values))
        detail = {"revision": revision + 1, "changedFields": values["changed_fields"]}
        self._audit(conn, f"{resource_type}s.update", data["name"], detail)

    def secret(self, name: str, make) -> str:
        """A server-wide secret, created on first use and shared by every instance."""
        with self._read() as conn:
            value = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar()
        if value is not None:
            return value
        try:
            with self._write() as conn:
                conn.execute(insert(server_secrets).values(name=name, value=make()))
        except IntegrityError:
            pass  # another instance created it first; use theirs
        with self._read() as conn:
            return conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).scalar_one()

    def dispose(self) -> None:
        """Stop sealing and close the pooled connections (commands that are done with the database)."""
        if self._sealer is not None:
            self._sealer.stop()
        self.engine.dispose()
        self._reader.dispose()

    def ping(self) -> str | None:
        """The schema revision, None if never migrated; raises when the database cannot be reached or read."""
        with self._read() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:
                # A table there yet unreadable (locked past the statement timeout, the connection cut) is no
                # reason to run a migration; asked again, a database that is not answering raises.
                if inspect(conn).has_table("alembic_version"):
                    raise
                return None  # reachable, but never migrated

    def check_writable(self) -> None:
        for attempt in range(2):
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql(WRITE_PROBE)  # rolled back as the connection closes
                return
            except DBAPIError as exc:
                # A connection SQLite opened while the file was read-only stays so: asked again on one opened
                # now (the refusal had the pool reopen its connections; see storage.engine).
                if attempt or not sqlite_read_only(exc):
                    raise


def _changed_meanwhile(what: str = "update") -> Aborted:
    return Aborted(f"the resource was changed by another request while this {what} ran; retry it")


def _written_meanwhile() -> Aborted:
    return Aborted("another request wrote some of the same notes or occurrences meanwhile; retry")


def _revision_of(table) -> tuple:
    """The columns of a row's current revision, as history keeps them."""
    return table.c.revision, table.c.updated_by, table.c.update_time, table.c.changed_fields, table.c.data


class _ProjectRevision(NamedTuple):
    """A project row in the shape history keeps (projects have no document or update time of their own)."""

    revision: int
    updated_by: str | None
    update_time: int
    changed_fields: None
    data: dict


def occurrences_query(project_id: str, page: PageRequest, filter_=None):
    """ListOccurrences: one project's occurrences after the page's key, in key order."""
    return _occurrences_statement(filter_).params(_occurrences_params(project_id, page))


def _occurrences_params(project_id: str, page: PageRequest) -> dict:
    """The values of `_occurrences_statement`'s parameters for one page."""
    return {"project_id": project_id, "after": page.after, "limit": page.size + 1, "max_bytes": page.max_bytes}


@functools.lru_cache(maxsize=512)  # filter trees are immutable and repeat; statements are reusable
def _occurrences_statement(filter_):
    """ListOccurrences with the project, page key and limit left as parameters."""
    query = select(occurrences.c.pk, occurrences.c.data).where(compile_filter(filter_, occurrences))
    project, after = bindparam("project_id"), bindparam("after")
    paged = group_page(query, occurrences.c.project_id, project, occurrences.c.pk, after)
    return within_bytes(paged.limit(bindparam("limit")), occurrences, bindparam("max_bytes"))


def notes_query(project_id: str, page: PageRequest, filter_=None):
    """ListNotes: one page of a project's notes after the page's key, in key order."""
    query = select(notes.c.pk, notes.c.data).where(compile_filter(filter_, notes))
    paged = group_page(query, notes.c.project_id, project_id, notes.c.pk, page.after)
    return within_bytes(paged.limit(page.size + 1), notes, page.max_bytes)


def note_occurrences_query(note: NoteRef, page: PageRequest, filter_=None, projects: Collection[str] | None = None):
    """ListNoteOccurrences: one page of a note's occurrences, in every project or in `projects`, in key
    order, read through the (note project, note id, pk) index."""
    query = select(occurrences.c.pk, occurrences.c.data).where(
        occurrences.c.note_id == note.note_id, compile_filter(filter_, occurrences)
    )
    if projects is not None:
        query = query.where(occurrences.c.project_id.in_(sorted(projects)))
    note_project = occurrences.c.note_project_id
    paged = group_page(query, note_project, note.project, occurrences.c.pk, page.after)
    return within_bytes(paged.limit(page.size + 1), occurrences, page.max_bytes)


# Container Analysis computes an occurrence's fixAvailable ("at least one of the affected packages has a
# fix available"), which the proto marks output only: a client following it leaves it out, and the
# package issues say instead, by a fixed version of kind NORMAL or MINIMUM (MAXIMUM: none yet; one that
# stored none, from before validation asked for it, offers none) or their own fixAvailable.
_FIX_IN_AN_ISSUE = parse_filter(
    "vulnerability.packageIssue.fixAvailable = true"
    " OR vulnerability.packageIssue.fixedVersion.kind = NORMAL"
    " OR vulnerability.packageIssue.fixedVersion.kind = MINIMUM"
)


# The severities a package issue may give, highest first, each with the filter an occurrence holding one matches.
_ISSUE_SEVERITIES = [
    (name, parse_filter(f"vulnerability.packageIssue.effectiveSeverity = {name}"))
    for name in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "MINIMAL")
]


def vulnerability_summary_query(project_id: str, filter_=None):
    """GetVulnerabilityOccurrencesSummary: (resource URI, severity, total, fixable) per resource and
    severity, the occurrence's effective severity, else the highest of its package issues', else its own
    severity, else its note's (the note provider's, which Container Analysis copies into the occurrence);
    fixable as `_FIX_IN_AN_ISSUE` says."""
    vulnerability = occurrences.c.data["vulnerability"]
    effective, severity = vulnerability["effectiveSeverity"].as_string(), vulnerability["severity"].as_string()
    # A correlated lookup through the notes' unique key: COALESCE evaluates it only for the
    # occurrences that give no severity themselves, so the common summary reads no note.
    of_note = (
        select(notes.c.data["vulnerability"]["severity"].as_string())
        .where(notes.c.project_id == occurrences.c.note_project_id, notes.c.note_id == occurrences.c.note_id)
        .scalar_subquery()
    )
    # Grafeas advises the package issues' effective severities and makes the occurrence's their highest; a
    # writer that gives only theirs is read as the gate reads it. COALESCE looks only where it must.
    of_issues = case(*((compile_filter(by, occurrences), name) for name, by in _ISSUE_SEVERITIES), else_=None)
    severity = func.coalesce(effective, of_issues, severity, of_note, "SEVERITY_UNSPECIFIED").label("severity")
    flagged = vulnerability["fixAvailable"].as_boolean() == true()
    # CASE tries the package issues only where the occurrence's own flag is not set: a whole project of
    # findings without it pays for reading their package issues, one artifact's hundred hardly at all.
    fixable = func.sum(case((flagged, 1), (compile_filter(_FIX_IN_AN_ISSUE, occurrences), 1), else_=0))
    return (
        select(occurrences.c.resource_uri, severity, func.count(), fixable)
        .where(
            occurrences.c.project_id == project_id,
            occurrences.c.kind == "VULNERABILITY",
            compile_filter(filter_, occurrences),
        )
        # By the output column's name: spelled out again, the package issues' JSONB containment tests bind
        # their documents anew, and PostgreSQL takes the two spellings for different expressions.
        .group_by(occurrences.c.resource_uri, literal_column("severity"))
    )


def occurrences_by_id_query(project_id: str, occurrence_ids: list[str], *columns):
    """`columns` of those of a project's occurrences `occurrence_ids` that exist."""
    return select(*columns).where(
        occurrences.c.project_id == project_id, one_of(occurrences.c.occurrence_id, occurrence_ids)
    )


def other_kinds_query(project_id: str, note_ids: list[str], kind: str):
    """The (note id, kind) of the occurrences of another kind than `kind` that name one of the notes
    `note_ids` of a project, read through the (note project, note id, pk) index."""
    return (
        select(occurrences.c.note_id, occurrences.c.kind)
        .where(
            occurrences.c.note_project_id == project_id,
            one_of(occurrences.c.note_id, note_ids),
            occurrences.c.kind != kind,
        )
        .distinct()
    )


def _execute_prepared(conn, statement: str, params: dict) -> list[tuple]:
    """Run one statement straight on psycopg, prepared on the server after its first use on a connection,
    and return its rows; SQLAlchemy's own execution costs more than the statement for a single create.
    Driver errors become SQLAlchemy's, as for every other statement."""
    import psycopg  # only reached on PostgreSQL, where it is the driver

    try:
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return cursor.fetchall()
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError):
            conn.invalidate()
        raise DBAPIError.instance(statement, params, exc, psycopg.Error) from None


class _RowsFailed(Exception):
    """Ends a COPY whose rows could not all be made, with a reason short enough for psycopg to send."""


class _UsedBefore(Exception):
    """Raised to roll back a keyed create whose ids turn out to have been used before."""


def _insert_many(conn, table, rows: Iterable[dict]) -> list[dict]:
    """Insert rows in the open transaction and return them, handing them to the driver in bulk: COPY
    on PostgreSQL, sent as `rows` yields them, and one executemany on SQLite. Both skip SQLAlchemy's
    per-row parameter processing, which costs more than the database's own work for a batch; the
    columns are plain text, integers and JSON."""
    dialect = conn.dialect.name
    rows = iter(rows)
    first = list(itertools.islice(rows, _BULK_THRESHOLD))
    if len(first) < _BULK_THRESHOLD or dialect not in ("postgresql", "sqlite"):
        first += rows
        if first:
            conn.execute(insert(table), first)
        return first
    columns = list(first[0])
    pick, data = operator.itemgetter(*columns), columns.index("data")

    def values(row: dict) -> tuple:
        picked = list(pick(row))
        picked[data] = dumps_json(picked[data])
        return tuple(picked)

    written: list[dict] = []
    if dialect == "postgresql":
        import psycopg

        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        try:
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                try:
                    rows = itertools.chain(first, rows)
                    while group := list(itertools.islice(rows, _COPY_GROUP)):
                        for row in group:
                            copy.write_row(values(row))
                        written += group
                except psycopg.Error:
                    raise
                except Exception as exc:
                    # psycopg ends the COPY with the exception's text as the reason, and fails to, losing
                    # the connection, when that is long (a batch's error listing 150 items): give it ours.
                    raise _RowsFailed from exc
        except _RowsFailed as stop:
            raise stop.__cause__ from None  # the caller's own error, for the API to answer
        except psycopg.IntegrityError as exc:  # the driver's own: callers catch SQLAlchemy's, as for INSERT
            raise IntegrityError(statement, None, exc) from exc
        except psycopg.Error as exc:  # as SQLAlchemy's own: a lost connection is a 503, not a 500
            if isinstance(exc, psycopg.OperationalError):
                conn.invalidate()
            raise DBAPIError.instance(statement, None, exc, psycopg.Error) from None
        return written
    written = first + list(rows)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # qmark
    conn.exec_driver_sql(statement, [values(row) for row in written])
    return written


def _occurrence_rows(project_id: str, new: Iterable[NewOccurrence]) -> Iterator[dict]:
    """Table rows for new occurrences, made by the acting principal; a batch shares one creation time,
    converted once."""
    author = actor()
    micros: dict[str, int] = {}
    for occ in new:
        created = micros.get(occ.data["createTime"])
        if created is None:
            created = micros[occ.data["createTime"]] = to_micros(occ.data["createTime"])
        yield dict(
            project_id=project_id,
            occurrence_id=occ.occurrence_id,
            note_project_id=occ.note.project,
            note_id=occ.note.note_id,
            kind=occ.kind,
            resource_uri=occ.resource_uri,
            artifact_key=occ.artifact_key,
            revision=1,
            create_time=created,
            update_time=created,
            data=occ.data,
            updated_by=author,
        )
