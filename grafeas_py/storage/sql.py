"""The storage interface over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import contextmanager

from sqlalchemy import Engine, bindparam, case, func, insert, select, text, true, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..errors import Aborted, AlreadyExists, FailedPrecondition, NotFound
from ..names import NoteRef, note_name, occurrence_name, project_name
from ..wire.timestamps import to_micros
from .base import NewOccurrence, Page, PageRequest, Storage, page_of
from .engine import dumps_json
from .filter_sql import compile_filter
from .sql_gate import GateStorage
from .tables import notes, occurrences, projects, server_secrets

# Lookups by many keys go in chunks so that no statement exceeds a driver's parameter limit.
_CHUNK = 500
# From this many rows on, inserts bypass SQLAlchemy's per-row processing (see _insert_many).
_BULK_THRESHOLD = 50


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


def _note_missing(project_id: str, note_id: str) -> NotFound:
    return NotFound(f"note {note_name(project_id, note_id)!r} not found")


def _occurrence_missing(project_id: str, occurrence_id: str) -> NotFound:
    return NotFound(f"occurrence {occurrence_name(project_id, occurrence_id)!r} not found")


class SqlStorage(GateStorage, Storage):
    """Storage in one relational database; each method runs in its own transaction."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        # Reads may use an autocommit engine of their own (see `engine.make_engine`).
        self._reader = reader or engine

    @contextmanager
    def _write(self):
        """A connection in a write transaction (BEGIN IMMEDIATE on SQLite, so writers queue instead of
        failing), committed on success, and returned to the pool whatever happens."""
        with self.engine.connect() as conn, conn.execution_options(write=True).begin():
            yield conn

    def _read(self):
        """A connection in autocommit mode: for reads, and for writes of exactly one statement."""
        return self._reader.connect()

    # ---- projects --------------------------------------------------------------------------

    def create_project(self, project_id: str, create_time: str) -> dict:
        try:
            with self._write() as conn:
                conn.execute(insert(projects).values(project_id=project_id, create_time=to_micros(create_time)))
        except IntegrityError:
            raise AlreadyExists(f"project {project_name(project_id)!r} already exists") from None
        return {"name": project_name(project_id)}

    def get_project(self, project_id: str) -> dict:
        with self._read() as conn:
            row = conn.execute(select(projects.c.create_time).where(projects.c.project_id == project_id)).first()
        if row is None:
            raise NotFound(f"project {project_name(project_id)!r} not found")
        return {"name": project_name(project_id)}

    def list_projects(self, page: PageRequest) -> Page:
        query = select(projects.c.pk, projects.c.project_id).where(projects.c.pk > page.after)
        rows = self._page_rows(query.order_by(projects.c.pk), page)
        return page_of([{"name": project_name(r.project_id)} for r in rows], rows, page)

    def delete_project(self, project_id: str) -> None:
        with self._write() as conn:
            for table, what in ((notes, "notes"), (occurrences, "occurrences")):
                if conn.execute(select(table.c.pk).where(table.c.project_id == project_id).limit(1)).first():
                    raise FailedPrecondition(
                        f"project {project_name(project_id)!r} still has {what}; delete them first"
                    )
            deleted = conn.execute(projects.delete().where(projects.c.project_id == project_id)).rowcount
        if not deleted:
            raise NotFound(f"project {project_name(project_id)!r} not found")

    # ---- notes -----------------------------------------------------------------------------

    def create_notes(self, project_id: str, new_notes: dict[str, dict]) -> list[dict]:
        rows = []
        for note_id, data in new_notes.items():
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
                )
            )
        try:
            with self._write() as conn:
                taken = self._existing_note_ids(conn, project_id, list(new_notes))
                if taken:
                    raise AlreadyExists(f"note {note_name(project_id, taken[0])!r} already exists")
                _insert_many(conn, notes, rows)
        except IntegrityError:  # another writer took an id between our check and our insert
            raise AlreadyExists("one of the notes already exists; no notes were created") from None
        return list(new_notes.values())

    @staticmethod
    def _existing_note_ids(conn, project_id: str, note_ids: list[str]) -> list[str]:
        found = []
        for start in range(0, len(note_ids), _CHUNK):
            chunk = note_ids[start : start + _CHUNK]
            query = select(notes.c.note_id).where(notes.c.project_id == project_id, notes.c.note_id.in_(chunk))
            found.extend(conn.execute(query).scalars())
        return sorted(found, key=note_ids.index)

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
        query = select(notes.c.pk, notes.c.data).where(
            notes.c.project_id == project_id, notes.c.pk > page.after, compile_filter(filter_, notes)
        )
        rows = self._page_rows(query.order_by(notes.c.pk), page)
        return page_of([r.data for r in rows], rows, page)

    def update_note(self, project_id: str, note_id: str, data: dict, revision: int) -> dict:
        where = (notes.c.project_id == project_id, notes.c.note_id == note_id)
        values = dict(data=data, update_time=to_micros(data["updateTime"]), revision=revision + 1)
        self._update(notes, where, revision, values, lambda: _note_missing(project_id, note_id))
        return data

    def delete_note(self, project_id: str, note_id: str) -> None:
        with self._write() as conn:
            query = notes.delete().where(notes.c.project_id == project_id, notes.c.note_id == note_id)
            deleted = conn.execute(query).rowcount
        if not deleted:
            raise _note_missing(project_id, note_id)

    def note_kinds(self, refs: Iterable[NoteRef]) -> dict[NoteRef, str]:
        refs = list(dict.fromkeys(refs))
        found: dict[NoteRef, str] = {}
        with self._read() as conn:
            for start in range(0, len(refs), _CHUNK):
                chunk = refs[start : start + _CHUNK]
                if len(chunk) == 1:  # the common single create: a prebuilt equality lookup
                    project_id, note_id = chunk[0]
                    kind = conn.execute(_NOTE_KIND, {"project_id": project_id, "note_id": note_id}).scalar()
                    if kind is not None:
                        found[chunk[0]] = kind
                    continue
                cond = tuple_(notes.c.project_id, notes.c.note_id).in_([tuple(r) for r in chunk])
                for row in conn.execute(select(notes.c.project_id, notes.c.note_id, notes.c.kind).where(cond)):
                    found[NoteRef(row.project_id, row.note_id)] = row.kind
        return found

    # ---- occurrences -----------------------------------------------------------------------

    def create_missing_occurrences(self, project_id: str, new: list[NewOccurrence]) -> list[dict]:
        """Create the occurrences whose ids are free, in one transaction; skip the others."""
        rows = _occurrence_rows(project_id, new)
        ids = [occ.occurrence_id for occ in new]
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    taken = set()
                    for start in range(0, len(ids), _CHUNK):
                        chunk = ids[start : start + _CHUNK]
                        query = select(occurrences.c.occurrence_id).where(
                            occurrences.c.project_id == project_id, occurrences.c.occurrence_id.in_(chunk)
                        )
                        taken.update(conn.execute(query).scalars())
                    fresh = [row for row in rows if row["occurrence_id"] not in taken]
                    if fresh:
                        _insert_many(conn, occurrences, fresh)
                break
            except IntegrityError:  # a concurrent retry of the same report won the race: look again
                if attempt == 2:
                    raise Aborted("another request is writing the same occurrences; retry") from None
        return [occ.data for occ in new if occ.occurrence_id not in taken]

    def create_occurrences(self, project_id: str, new: list[NewOccurrence]) -> list[dict]:
        rows = _occurrence_rows(project_id, new)
        if len(rows) == 1:  # one INSERT is atomic alone: no BEGIN/COMMIT round trips around it
            with self._read() as conn:
                conn.execute(insert(occurrences), rows[0])
        else:
            with self._write() as conn:
                _insert_many(conn, occurrences, rows)
        return [occ.data for occ in new]

    def get_occurrence(self, project_id: str, occurrence_id: str) -> dict:
        with self._read() as conn:
            data = conn.execute(_GET_OCCURRENCE, {"project_id": project_id, "occurrence_id": occurrence_id}).scalar()
        if data is None:
            raise _occurrence_missing(project_id, occurrence_id)
        return data

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
        params = {"project_id": project_id, "after": page.after, "limit": page.size + 1}
        with self._read() as conn:
            rows = conn.execute(_occurrences_statement(filter_), params).all()
        return page_of([r.data for r in rows], rows, page)

    def update_occurrence(self, project_id: str, occurrence_id: str, data: dict, revision: int) -> dict:
        where = (occurrences.c.project_id == project_id, occurrences.c.occurrence_id == occurrence_id)
        values = dict(data=data, update_time=to_micros(data["updateTime"]), revision=revision + 1)
        self._update(occurrences, where, revision, values, lambda: _occurrence_missing(project_id, occurrence_id))
        return data

    def delete_occurrence(self, project_id: str, occurrence_id: str) -> None:
        with self._write() as conn:
            query = occurrences.delete().where(
                occurrences.c.project_id == project_id, occurrences.c.occurrence_id == occurrence_id
            )
            deleted = conn.execute(query).rowcount
        if not deleted:
            raise _occurrence_missing(project_id, occurrence_id)

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

    def list_note_occurrences(self, note: NoteRef, page: PageRequest, filter_=None) -> Page:
        with self._read() as conn:
            exists = conn.execute(
                select(notes.c.pk).where(notes.c.project_id == note.project, notes.c.note_id == note.note_id)
            ).first()
        if exists is None:
            raise _note_missing(note.project, note.note_id)
        rows = self._page_rows(note_occurrences_query(note, page, filter_), page)
        return page_of([r.data for r in rows], rows, page)

    def vulnerability_summary(self, project_id: str, filter_=None) -> list[tuple[str, str, int, int]]:
        """(resource URI, severity, total, fixable) for the project's VULNERABILITY occurrences."""
        vulnerability = occurrences.c.data["vulnerability"]
        effective, severity = vulnerability["effectiveSeverity"].as_string(), vulnerability["severity"].as_string()
        severity = func.coalesce(effective, severity, "SEVERITY_UNSPECIFIED").label("severity")
        fixable = func.sum(case((vulnerability["fixAvailable"].as_boolean() == true(), 1), else_=0))
        query = (
            select(occurrences.c.resource_uri, severity, func.count(), fixable)
            .where(
                occurrences.c.project_id == project_id,
                occurrences.c.kind == "VULNERABILITY",
                compile_filter(filter_, occurrences),
            )
            .group_by(occurrences.c.resource_uri, severity)
        )
        with self._read() as conn:
            return [(uri, sev, int(total), int(fix or 0)) for uri, sev, total, fix in conn.execute(query)]

    # ---- shared ----------------------------------------------------------------------------

    def _page_rows(self, query, page: PageRequest) -> list:
        with self._read() as conn:
            return conn.execute(query.limit(page.size + 1)).all()

    def _update(self, table, where, revision: int, values: dict, missing) -> None:
        """Compare-and-set on `revision`, so two concurrent updates cannot silently overwrite each other."""
        with self._write() as conn:
            changed = conn.execute(update(table).where(*where, table.c.revision == revision).values(**values)).rowcount
            if changed:
                return
            exists = conn.execute(select(table.c.pk).where(*where)).first()
        if exists is None:
            raise missing()
        raise Aborted("the resource was changed by another request while this update ran; retry it")

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

    def ping(self) -> str | None:
        with self._read() as conn:  # raises when the database cannot be reached
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except DBAPIError:
                return None  # reachable, but never migrated


def occurrences_query(project_id: str, page: PageRequest, filter_=None):
    """ListOccurrences: one project's occurrences after the page's key, in key order."""
    return _occurrences_statement(filter_).params(project_id=project_id, after=page.after, limit=page.size + 1)


@functools.lru_cache(maxsize=512)  # filter trees are immutable and repeat; statements are reusable
def _occurrences_statement(filter_):
    """ListOccurrences with the project, page key and limit left as parameters."""
    where = (occurrences.c.project_id == bindparam("project_id"), occurrences.c.pk > bindparam("after"))
    return (
        select(occurrences.c.pk, occurrences.c.data)
        .where(*where, compile_filter(filter_, occurrences))
        .order_by(occurrences.c.pk)
        .limit(bindparam("limit"))
    )


def note_occurrences_query(note: NoteRef, page: PageRequest, filter_=None):
    """ListNoteOccurrences: a note's occurrences in every project, in key order."""
    where = (occurrences.c.note_project_id == note.project, occurrences.c.note_id == note.note_id)
    return (
        select(occurrences.c.pk, occurrences.c.data)
        .where(*where, occurrences.c.pk > page.after, compile_filter(filter_, occurrences))
        .order_by(occurrences.c.pk)
    )


def _insert_many(conn, table, rows: list[dict]) -> None:
    """Insert rows in the open transaction, handing them to the driver in bulk: COPY on PostgreSQL,
    one executemany on SQLite. Both skip SQLAlchemy's per-row parameter processing, which costs more
    than the database's own work for a batch; the columns are plain text, integers and JSON."""
    dialect = conn.dialect.name
    if len(rows) < _BULK_THRESHOLD or dialect not in ("postgresql", "sqlite"):
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    values = ([dumps_json(row[c]) if c == "data" else row[c] for c in columns] for row in rows)
    if dialect == "postgresql":
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values:
                copy.write_row(row)
        return
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # qmark
    conn.exec_driver_sql(statement, [tuple(row) for row in values])


def _occurrence_rows(project_id: str, new: list[NewOccurrence]) -> list[dict]:
    """Table rows for new occurrences; a batch shares one creation time, converted once."""
    rows = []
    micros: dict[str, int] = {}
    for occ in new:
        created = micros.get(occ.data["createTime"])
        if created is None:
            created = micros[occ.data["createTime"]] = to_micros(occ.data["createTime"])
        rows.append(
            dict(
                project_id=project_id,
                occurrence_id=occ.occurrence_id,
                note_project_id=occ.note.project,
                note_id=occ.note.note_id,
                kind=occ.kind,
                resource_uri=occ.resource_uri,
                revision=1,
                create_time=created,
                update_time=created,
                data=occ.data,
            )
        )
    return rows
