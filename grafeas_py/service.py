"""Domain logic of the Grafeas API: validation, server-kept fields and update semantics.

Everything here takes and returns canonical documents (see `wire.codec`); HTTP stays in `api`,
SQL in `storage`. Every operation passes through `Grafeas`, the one place where the caller's
permissions are checked (`Access`, against the principal of `auth.context`), always before
anything is read, so a caller without the permission learns nothing, not even whether a resource
exists. Storage records history and the audit trail with each change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from . import fieldmask
from .auth import roles
from .auth.access import Access
from .auth.context import current_principal
from .errors import Aborted, AlreadyExists, ApiError, InvalidArgument, NotFound
from .fieldmask import Path
from .gate.artifacts import artifact_lookup, stored_artifact_key
from .gate.withholding import withheld
from .names import (
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_RULE,
    KeyedIds,
    NoteRef,
    check_id,
    check_new_project,
    new_id,
    new_ids,
    note_name,
    occurrence_name,
    parse_note_name,
    parse_project_name,
    project_name,
)
from .storage import Page, PageRequest, Storage
from .storage.base import NewOccurrence, OccurrenceUpdate
from .validation import validate_note, validate_occurrence
from .wire.grafeas_types import KIND_BY_NOTE_TYPE, KIND_BY_OCCURRENCE_DETAILS, NOTE, OCCURRENCE, SEVERITY
from .wire.quoting import quoted
from .wire.schema import Message
from .wire.timestamps import from_datetime

MAX_BATCH = 1000
# Items of a batch decoded together before they are validated and prepared: a request of 1000 took 7%
# less CPU so on PostgreSQL than alternating item by item (see the README's Performance).
_DECODED_TOGETHER = 100
OUTPUT_ONLY = ("name", "kind", "createTime", "updateTime")


class Ingested(NamedTuple):
    """What an ingestion wrote: occurrences created, updated and left unchanged, and notes created."""

    created: int
    updated: int
    unchanged: int
    notes_created: int


def _now() -> str:
    return from_datetime(dt.datetime.now(dt.UTC))


def _untimed(doc: dict) -> dict:
    """A document without the times the server keeps: what two requests for it can agree on."""
    return {k: v for k, v in doc.items() if k not in ("createTime", "updateTime")}


def _strip_output_only(body: dict) -> dict:
    """Output-only fields in a request are ignored, as AIP-203 asks."""
    return {k: v for k, v in body.items() if k not in OUTPUT_ONLY}


def _kind(doc: dict, members: dict[str, str]) -> str | None:
    """The kind named by the one oneof member present in `doc`."""
    for key in doc:
        kind = members.get(key)
        if kind is not None:
            return kind
    return None


def _invalid(what: str, problems: list[str]) -> InvalidArgument:
    return InvalidArgument(f"{what} is invalid: " + "; ".join(problems))


class Grafeas:
    """The Grafeas v1 and Projects operations over a `Storage`, for callers `access` allows; `keyed_ids` makes
    the ids of requests with an idempotency key."""

    def __init__(self, storage: Storage, access: Access | None = None, *, keyed_ids: KeyedIds) -> None:
        self.storage = storage
        self.access = access or Access.unrestricted()  # in-process callers (benchmarks, tools) are trusted
        self.keyed_ids = keyed_ids

    def _require(self, permission: str, project_id: str, resource: str | None = None) -> None:
        self.access.require(permission, project_id, resource)

    # ---- projects --------------------------------------------------------------------------

    def create_project(self, body: dict) -> dict:
        unknown = sorted(set(body) - {"name"})
        if unknown:  # grafeas.v1.Project has one field
            raise InvalidArgument(f"invalid project: unknown field {quoted(unknown[0])} in grafeas.v1.Project")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument('project.name is required, in the form "projects/[PROJECT_ID]"')
        project_id = check_new_project(parse_project_name(name))
        self._require(roles.PROJECTS_CREATE, project_id)
        return self.storage.create_project(project_id, _now())

    def get_project(self, project_id: str) -> dict:
        self._require(roles.PROJECTS_GET, project_id)
        return self.storage.get_project(project_id)

    def list_projects(self, page: PageRequest, filter_=None) -> Page:
        """The projects the caller may list (projects.list), and only those."""
        scope = self.access.scope(roles.PROJECTS_LIST)
        return self.storage.list_projects(page, None if scope.everything else scope.projects, filter_)

    def delete_project(self, project_id: str) -> None:
        self._require(roles.PROJECTS_DELETE, project_id)
        self.storage.delete_project(project_id)

    # ---- notes -----------------------------------------------------------------------------

    def create_note(self, project_id: str, note_id: str, body: dict) -> dict:
        if not note_id:
            raise InvalidArgument("noteId is required")
        return self.batch_create_notes(project_id, {note_id: body}, single=True)[0]

    def batch_create_notes(self, project_id: str, bodies: Mapping[str, dict], single: bool = False) -> list[dict]:
        self._require(roles.NOTES_CREATE, project_id)
        if not single and not 1 <= len(bodies) <= MAX_BATCH:
            raise InvalidArgument(f"notes must hold 1 to {MAX_BATCH} entries, got {len(bodies)}")
        now = _now()
        docs: dict[str, dict] = {}
        problems: list[str] = []
        for note_id in bodies.keys():
            where = "noteId" if single else f"notes[{note_id!r}]"
            try:
                check_id("noteId" if single else "note id", note_id)  # a batch's problems already say where
                docs[note_id] = self._new_note(project_id, note_id, bodies[note_id], now)
            except InvalidArgument as exc:
                problems.append(exc.message if single else f"{where}: {exc.message}")
        if problems:
            raise InvalidArgument(problems[0] if single else "no notes were created: " + "; ".join(problems))
        return self.storage.create_notes(project_id, docs)

    @staticmethod
    def _new_note(project_id: str, note_id: str, body: dict, now: str) -> dict:
        check_new_project(project_id)
        body = _strip_output_only(body)
        problems = validate_note(body)
        if problems:
            raise _invalid("note", problems)
        kind = _kind(body, KIND_BY_NOTE_TYPE)
        return {"name": note_name(project_id, note_id), **body, "kind": kind, "createTime": now, "updateTime": now}

    def get_note(self, project_id: str, note_id: str) -> dict:
        self._require(roles.NOTES_GET, project_id, note_name(project_id, note_id))
        return self.storage.get_note(project_id, note_id)

    def list_notes(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        self._require(roles.NOTES_LIST, project_id)
        return self.storage.list_notes(project_id, page, filter_)

    def update_note(self, project_id: str, note_id: str, body: dict, mask: str | None, sent: list[Path]) -> dict:
        """Update per `mask`; without one, the fields `sent` (`fieldmask.paths_in_body` of the body as the
        client wrote it: the canonical `body` leaves out the fields sent empty, which clear them)."""
        self._require(roles.NOTES_UPDATE, project_id, note_name(project_id, note_id))
        existing, revision = self.storage.get_note_with_revision(project_id, note_id)
        doc = _updated(existing, body, mask, sent, NOTE, "note", validate_note, KIND_BY_NOTE_TYPE)
        changes = _changes(existing, doc)
        if not changes:
            return existing  # as ingestion does: no revision, no audit entry, the update time stays
        return self.storage.update_note(project_id, note_id, doc, revision, changes)

    def delete_note(self, project_id: str, note_id: str) -> None:
        self._require(roles.NOTES_DELETE, project_id, note_name(project_id, note_id))
        self.storage.delete_note(project_id, note_id)

    def list_note_occurrences(self, note: NoteRef, page: PageRequest, filter_=None) -> Page:
        """The note's occurrences in the projects where the caller may also list occurrences.

        Container Analysis shows a holder of notes.listOccurrences every occurrence of the note; here
        a tenant's occurrences stay private to whom the tenant's own project grants occurrences.list,
        so a provider does not learn what its customers run from the notes they attach to."""
        self._require(roles.NOTES_LIST_OCCURRENCES, note.project, note.name)
        scope = self.access.scope(roles.OCCURRENCES_LIST)
        return self.storage.list_note_occurrences(note, page, filter_, None if scope.everything else scope.projects)

    # ---- occurrences -----------------------------------------------------------------------

    def create_occurrence(self, project_id: str, body: dict) -> dict:
        [occ] = self._prepare_occurrences(project_id, [body], single=True, check_notes=False)
        created = self.storage.create_occurrence_if_note_matches(project_id, occ)
        if created is not None:
            return created
        # The note is missing or of another kind: the full checks say which, in the usual words.
        checked = self._prepare_occurrences(project_id, [body], single=True)
        return self.storage.create_occurrences(project_id, checked)[0]

    def batch_create_occurrences(self, project_id: str, bodies: Sequence[dict]) -> list[dict]:
        """Create all of `bodies` or none; they may be decoded lazily, one by one as they are read."""
        if not 1 <= len(bodies) <= MAX_BATCH:
            raise InvalidArgument(f"occurrences must hold 1 to {MAX_BATCH} items, got {len(bodies)}")
        self._require(roles.OCCURRENCES_CREATE, project_id)
        return self.storage.create_occurrences(project_id, self._checked_occurrences(project_id, bodies))

    def create_occurrences_once(
        self, project_id: str, bodies: Sequence[dict], key: str, single: bool = False
    ) -> list[dict]:
        """Create `bodies` as the first request with this idempotency key; a repeat answers as it did.

        Each item's id derives from the caller, the project, the key and the item's place, keyed by a server
        secret (`names.KeyedIds`), so a retry finds them taken and writes nothing, and no other caller can
        take them first. It gets the stored occurrences if they are what it asks
        for (apart from the times the server keeps), and 409 if the key went with another request or
        what it created was changed or deleted since: a deleted id stays taken, so that one name never
        stands for two artifacts.
        """
        if not 1 <= len(bodies) <= MAX_BATCH:
            raise InvalidArgument(f"occurrences must hold 1 to {MAX_BATCH} items, got {len(bodies)}")
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidArgument(f"Idempotency-Key must be {IDEMPOTENCY_KEY_RULE}, got {key!r}")
        principal = current_principal().id
        # One place past the request's last too: taken, the key's first request held more items than this one.
        *ids, beyond = self.keyed_ids.ids(principal, project_id, key, len(bodies) + 1)
        # A retry: what the first request created stands even where its note was deleted since (deleting a
        # note keeps its occurrences), so the notes are not checked again, only the items against it. Its
        # first id is taken, whether its occurrence is there or was deleted (then the answer is a 409).
        first = ids[:1]
        retry = bool(
            self.storage.existing_occurrence_ids(project_id, first)
            or self.storage.deleted_occurrence_uris(project_id, first)
        )
        prepared = self._prepare_occurrences(project_id, bodies, ids, single=single, check_notes=not retry)
        created = None if retry else self.storage.create_occurrences_unless_taken(project_id, prepared)
        if created is not None:
            return created
        stored = self.storage.get_occurrences(project_id, [*ids, beyond])
        if stored.pop(beyond, None) is not None:
            raise AlreadyExists(
                f"Idempotency-Key {key!r} was used in project {project_id!r} for a request of more occurrences "
                "than this one; send that request again whole, or use a new key for a new request"
            )
        if not stored:  # taken, yet none of them is there: what the key created was deleted
            raise AlreadyExists(
                f"Idempotency-Key {key!r} was used in project {project_id!r} for occurrences that were "
                "deleted since; use a new key for a new request"
            )
        if any(not fieldmask.same(_untimed(stored.get(occ.occurrence_id, {})), _untimed(occ.data)) for occ in prepared):
            raise AlreadyExists(
                f"Idempotency-Key {key!r} was used for another request in project {project_id!r}, "
                "or what it created has changed since or was deleted; use a new key for a new request"
            )
        return [stored[occ.occurrence_id] for occ in prepared]

    def ingest(
        self,
        project_id: str,
        notes: Mapping[str, dict],
        items: Sequence[tuple[str, dict]],
        read_at: Mapping[str, int] | None = None,
    ) -> Ingested:
        """Create the `notes` (by full name) that are missing and each (occurrence id, body) whose id is
        free, and update each stored occurrence whose content differs, in one transaction; an existing
        note is left as it is.

        Everything is validated first: any problem writes nothing, and the error names each item by
        its position in `items`. Aborted if another request wrote some of them meanwhile, or since
        the revision `read_at` names for an item made from a stored occurrence."""
        self._require(roles.OCCURRENCES_CREATE, project_id)
        now = _now()
        new_notes = self._missing_notes(notes, now)
        planned = {NoteRef(p, note_id): doc["kind"] for p, docs in new_notes.items() for note_id, doc in docs.items()}
        prepared, errors = [], []
        for index, (occurrence_id, body) in enumerate(items):
            try:
                prepared.append((index, self._new_occurrence(project_id, body, now, occurrence_id)))
            except ApiError as exc:
                errors.append((index, exc))
        stored = self.storage.get_occurrences_with_revisions(project_id, [occ.occurrence_id for _, occ in prepared])
        # An item made from an occurrence read earlier would otherwise undo what was written since.
        if any(stored.get(i, (None, None))[1] != revision for i, revision in (read_at or {}).items()):
            raise Aborted("another request wrote some of the same occurrences meanwhile; retry")
        # An update keeps its note (noteName is immutable), which may be gone since, as UpdateOccurrence allows.
        errors += self._note_problems(
            project_id, [item for item in prepared if item[1].occurrence_id not in stored], planned
        )
        created, updated, problems = _new_and_changed(prepared, stored)
        errors += problems + self._moved_after_delete(project_id, prepared, stored)
        if errors:
            raise _batch_error(errors, single=False, what="nothing was written")
        if updated:
            notes_of = [parse_note_name(change.data["noteName"]) for change in updated]
            notes_of += [note for change in updated for note in _vex_notes(change.data)]
            self.access.require_occurrence_write(roles.OCCURRENCES_UPDATE, project_id, notes_of)
        notes_created = (
            self.storage.ingest(project_id, new_notes, created, updated) if new_notes or created or updated else 0
        )
        return Ingested(len(created), len(updated), len(prepared) - len(created) - len(updated), notes_created)

    def _moved_after_delete(
        self, project_id: str, prepared: list[tuple[int, NewOccurrence]], stored: Mapping[str, object]
    ) -> list[tuple[int, ApiError]]:
        """(index, error) for each occurrence to create again after a delete for another artifact: its
        history would join one artifact's finding to another's, as resourceUri's immutability forbids."""
        again = [occ.occurrence_id for _, occ in prepared if occ.occurrence_id not in stored]
        deleted = self.storage.deleted_occurrence_uris(project_id, again) if again else {}
        return [
            (
                index,
                InvalidArgument(
                    f"occurrence {occ.data['name']!r} was deleted from {deleted[occ.occurrence_id]!r}: its key "
                    "cannot create it again for another artifact; use a new key"
                ),
            )
            for index, occ in prepared
            if deleted.get(occ.occurrence_id, occ.resource_uri) != occ.resource_uri
        ]

    def _missing_notes(self, notes: Mapping[str, dict], now: str) -> dict[str, dict[str, dict]]:
        """The documents of the `notes` that do not exist yet, by project and id, validated."""
        refs = {parse_note_name(name, f"notes[{name!r}]"): body for name, body in notes.items()}
        # Attaching to them is needed anyway; asked first, whether a note exists is told only to who may.
        for project in sorted({ref.project for ref in refs}):
            self._require(roles.NOTES_ATTACH_OCCURRENCE, project)
        existing = self.storage.note_kinds(refs)
        for project in sorted({ref.project for ref in refs if ref not in existing}):
            self._require(roles.NOTES_CREATE, project)
        missing: dict[str, dict[str, dict]] = {}
        problems = []
        for ref, body in refs.items():
            if ref in existing:
                continue
            try:
                check_id("note id", ref.note_id)
                missing.setdefault(ref.project, {})[ref.note_id] = self._new_note(ref.project, ref.note_id, body, now)
            except InvalidArgument as exc:
                problems.append(f"notes[{ref.name!r}]: {exc.message}")
        if problems:
            raise InvalidArgument("nothing was written: " + "; ".join(problems))
        return missing

    def _checked_occurrences(self, project_id: str, bodies: Sequence[dict]) -> Iterator[NewOccurrence]:
        """Validate the items one by one, yielding each valid one for as long as all are; after the
        last, check the notes of all of them and raise the error that lists every problem by index.

        Storage writes what this yields in one transaction, which the error rolls back: PostgreSQL
        indexes the first items of a batch while the rest are still being decoded and validated.
        """
        now = _now()
        ids = new_ids(len(bodies))
        valid: list[tuple[int, NewOccurrence]] = []
        errors: list[tuple[int, ApiError]] = []
        for index, body in _decoded(bodies, errors):
            try:
                occ = self._new_occurrence(project_id, body, now, ids[index])
            except ApiError as exc:
                errors.append((index, exc))
                continue
            valid.append((index, occ))
            if not errors:
                yield occ
        errors += self._note_problems(project_id, valid)
        if errors:
            raise _batch_error(errors, single=False)

    def _note_problems(
        self, project_id: str, prepared: list[tuple[int, NewOccurrence]], planned: Mapping[NoteRef, str] | None = None
    ) -> list[tuple[int, ApiError]]:
        """(index, error) for each occurrence whose note is missing (and not among the `planned` notes
        about to be created with it, by kind) or of another kind."""
        # Before the notes are looked up: whether a note exists is only told to who may attach to it.
        notes = [note for _, occ in prepared for note in _notes_named(occ)]
        self.access.require_occurrence_write(roles.OCCURRENCES_CREATE, project_id, notes)
        kinds = {**self.storage.note_kinds(occ.note for _, occ in prepared), **(planned or {})}
        problems: list[tuple[int, ApiError]] = []
        for index, occ in prepared:
            note_kind = kinds.get(occ.note)
            if note_kind is None:
                problems.append((index, NotFound(f"note {occ.note.name!r} named by noteName does not exist")))
            elif note_kind != occ.kind:
                message = f"occurrence kind {occ.kind} does not match the kind {note_kind} of note {occ.note.name!r}"
                problems.append((index, InvalidArgument(message)))
        return problems

    def _prepare_occurrences(
        self,
        project_id: str,
        bodies: Sequence[dict],
        ids: list[str] | None = None,
        single: bool = False,
        check_notes: bool = True,
    ) -> list[NewOccurrence]:
        """Validate every item and check every note once (unless storage checks them as it writes);
        any problem fails them all, listed by index."""
        self._require(roles.OCCURRENCES_CREATE, project_id)
        now = _now()
        ids = ids if ids is not None else new_ids(len(bodies))
        prepared: list[tuple[int, NewOccurrence]] = []
        errors: list[tuple[int, ApiError]] = []
        for index, body in _decoded(bodies, errors):
            try:
                prepared.append((index, self._new_occurrence(project_id, body, now, ids[index])))
            except ApiError as exc:
                errors.append((index, exc))
        if not check_notes and not errors:
            notes = [note for _, occ in prepared for note in _notes_named(occ)]
            self.access.require_occurrence_write(roles.OCCURRENCES_CREATE, project_id, notes)
            return [occ for _, occ in prepared]
        errors += self._note_problems(project_id, prepared)
        if errors:
            raise _batch_error(errors, single)
        return [occ for _, occ in prepared]

    @staticmethod
    def _new_occurrence(project_id: str, body: dict, now: str, occurrence_id: str | None = None) -> NewOccurrence:
        check_new_project(project_id)
        body = _strip_output_only(body)
        problems = validate_occurrence(body)
        if problems:
            raise _invalid("occurrence", problems)
        note = parse_note_name(body["noteName"], "noteName")
        kind = _kind(body, KIND_BY_OCCURRENCE_DETAILS)
        occurrence_id = occurrence_id or new_id()
        data = {
            "name": occurrence_name(project_id, occurrence_id),
            **body,
            "noteName": note.name,  # one spelling, with or without a location, for filters and the gate
            "kind": kind,
            "createTime": now,
            "updateTime": now,
        }
        uri = body["resourceUri"]
        return NewOccurrence(occurrence_id, note, kind, uri, data, stored_artifact_key(uri))

    def get_occurrence(self, project_id: str, occurrence_id: str) -> dict:
        self._require(roles.OCCURRENCES_GET, project_id, occurrence_name(project_id, occurrence_id))
        return self.storage.get_occurrence(project_id, occurrence_id)

    def list_occurrences(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        self._require(roles.OCCURRENCES_LIST, project_id)
        return self.storage.list_occurrences(project_id, page, filter_)

    def update_occurrence(
        self, project_id: str, occurrence_id: str, body: dict, mask: str | None, sent: list[Path]
    ) -> dict:
        """Update per `mask`, or the fields `sent`, as `update_note` does."""
        self._require(roles.OCCURRENCES_UPDATE, project_id, occurrence_name(project_id, occurrence_id))
        existing, revision = self.storage.get_occurrence_with_revision(project_id, occurrence_id)
        note = parse_note_name(existing["noteName"], "noteName")
        self.access.require_occurrence_write(roles.OCCURRENCES_UPDATE, project_id, [note, *_vex_notes(existing)])
        given = body.get("noteName")
        if given is not None and given != existing["noteName"] and parse_note_name(given, "noteName") == note:
            body = {**body, "noteName": existing["noteName"]}  # the same note, with or without a location
        doc = _updated(
            existing,
            body,
            mask,
            sent,
            OCCURRENCE,
            "occurrence",
            validate_occurrence,
            KIND_BY_OCCURRENCE_DETAILS,
            immutable=("resourceUri", "noteName"),
        )
        changes = _changes(existing, doc)
        if not changes:
            return existing  # as for notes: an update to what is stored writes nothing
        named = [note for note in _vex_notes(doc) if note not in _vex_notes(existing)]
        if named:  # the occurrence's own notes and project were checked above
            self.access.require_occurrence_write(roles.OCCURRENCES_UPDATE, project_id, named)
        return self.storage.update_occurrence(project_id, occurrence_id, doc, revision, changes)

    def delete_occurrence(self, project_id: str, occurrence_id: str) -> None:
        self._require(roles.OCCURRENCES_DELETE, project_id, occurrence_name(project_id, occurrence_id))
        existing, revision = self.storage.get_occurrence_with_revision(project_id, occurrence_id)
        note = parse_note_name(existing["noteName"], "noteName")
        self.access.require_occurrence_write(roles.OCCURRENCES_DELETE, project_id, [note, *_vex_notes(existing)])
        self.storage.delete_occurrence(project_id, occurrence_id, revision)  # only as it was checked

    def get_occurrence_note(self, project_id: str, occurrence_id: str) -> dict:
        """As in Grafeas, who may read an occurrence may read the note it is attached to."""
        self._require(roles.OCCURRENCES_GET, project_id, occurrence_name(project_id, occurrence_id))
        return self.storage.get_occurrence_note(project_id, occurrence_id)

    def vulnerability_summary(self, project_id: str, filter_=None) -> list[dict]:
        """Container Analysis's summary: per resource and effective severity, and per resource in all
        (severity SEVERITY_UNSPECIFIED), how many vulnerabilities there are and how many can be fixed."""
        self._require(roles.OCCURRENCES_LIST, project_id)
        counts: dict[str, dict[str, list[int]]] = {}
        for uri, severity, total, fixable in self.storage.vulnerability_summary(project_id, filter_):
            per_severity = counts.setdefault(uri, {})
            for key in {severity, "SEVERITY_UNSPECIFIED"}:  # the total, and the severity unless it is unknown
                entry = per_severity.setdefault(key, [0, 0])
                entry[0] += total
                entry[1] += fixable
        order = {name: number for number, name in SEVERITY.names.items()}
        return [
            _summary_entry(uri, severity, total, fixable)
            for uri in sorted(counts)
            for severity, (total, fixable) in sorted(counts[uri].items(), key=lambda item: -order[item[0]])
        ]

    # ---- history -------------------------------------------------------------------------

    def note_history(self, project_id: str, note_id: str, page: PageRequest) -> Page:
        self._require(roles.HISTORY_GET, project_id, note_name(project_id, note_id))
        return self.storage.list_revisions("note", project_id, note_id, page)

    def occurrence_history(self, project_id: str, occurrence_id: str, page: PageRequest) -> Page:
        self._require(roles.HISTORY_GET, project_id, occurrence_name(project_id, occurrence_id))
        return self.storage.list_revisions("occurrence", project_id, occurrence_id, page)

    def artifact_history(self, project_id: str, resource_uri: str, page: PageRequest) -> Page:
        """The artifact's occurrence revisions and gate decisions in one project, by time, under every
        spelling of its URI the gate reads as that artifact (`https://X` and `X`, a tag beside the digest,
        `X:latest` for an untagged `X`: see `artifact_lookup`). A decision shows what it read in another
        project only to a caller who may list occurrences there (`gate.withholding`)."""
        if not resource_uri:
            raise InvalidArgument("resourceUri is required: the artifact whose history to list")
        self._require(roles.HISTORY_GET, project_id, project_name(project_id))
        uris, keys = artifact_lookup(resource_uri)
        found = self.storage.artifact_history(project_id, uris, keys, page)
        readable = self.access.scope(roles.OCCURRENCES_LIST)
        items = [
            {**item, "decision": withheld(item["decision"], project_id, readable)} if "decision" in item else item
            for item in found.items
        ]
        return dataclasses.replace(found, items=items)


def _new_and_changed(
    prepared: list[tuple[int, NewOccurrence]], stored: dict[str, tuple[dict, int]]
) -> tuple[list[NewOccurrence], list[OccurrenceUpdate], list[tuple[int, ApiError]]]:
    """The occurrences to create, the updates of those `stored` with other content, and (index, error)
    for each update that may not be made."""
    created, updated, errors = [], [], []
    for index, occ in prepared:
        if occ.occurrence_id not in stored:
            created.append(occ)
            continue
        try:
            change = _replacement(occ, *stored[occ.occurrence_id])
        except ApiError as exc:
            errors.append((index, exc))
            continue
        if change is not None:
            updated.append(change)
    return created, updated, errors


def _replacement(occ: NewOccurrence, stored: dict, revision: int) -> OccurrenceUpdate | None:
    """The update that makes a stored occurrence what was ingested again with its id (an UpdateOccurrence
    of every field), or None when it already is. It keeps its note: noteName is immutable, and a
    report posted again with another noteProject still names the same finding, the VEX assessment
    ingesting a VEX document copied onto it (ingest/vex.py) unless it brings one: a rescan reports
    the finding, not what its publisher said of it, and a package's licence unless it declares one."""
    body = _keeping_licence(_keeping_vex({**occ.data, "noteName": stored["noteName"]}, stored), stored)
    if fieldmask.same(_untimed(body), _untimed(stored)):
        return None
    immutable = ("resourceUri", "noteName")
    doc = _updated(
        stored, body, "*", [], OCCURRENCE, "occurrence", validate_occurrence, KIND_BY_OCCURRENCE_DETAILS, immutable
    )
    return OccurrenceUpdate(occ.occurrence_id, doc, revision, _changes(stored, doc))


def _keeping_vex(body: dict, stored: dict) -> dict:
    """`body`, with the stored finding's vexAssessment where it has none of its own."""
    kept = stored.get("vulnerability", {}).get("vexAssessment")
    finding = body.get("vulnerability")
    if kept is None or finding is None or "vexAssessment" in finding:
        return body
    return {**body, "vulnerability": {**finding, "vexAssessment": kept}}


def _keeping_licence(body: dict, stored: dict) -> dict:
    """`body`, with the stored package's licence where it declares none: the same package in the same
    artifact is under the same licence, and a second SBOM from a tool that reads no licences (or a
    scanner's package list) knows less, not otherwise; one that declares a licence replaces it."""
    kept = stored.get("package", {}).get("license", {})
    package = body.get("package")
    if not kept.get("expression") or package is None or package.get("license", {}).get("expression"):
        return body
    return {**body, "package": {**package, "license": kept}}


def _changes(existing: dict, doc: dict) -> list[str]:
    """The field paths an update changed; the server-kept update time is not the caller's change."""
    return fieldmask.changed_paths(_strip_output_only(existing), _strip_output_only(doc))


def _summary_entry(uri: str, severity: str, total: int, fixable: int) -> dict:
    """One FixableTotalByDigest in canonical form: proto3 JSON leaves out the unspecified severity
    (the all-severities entry) and zero counts."""
    entry = {"resourceUri": uri, "severity": severity, "fixableCount": str(fixable), "totalCount": str(total)}
    return {k: v for k, v in entry.items() if v not in ("SEVERITY_UNSPECIFIED", "0")}


def _updated(existing, body, mask, sent, msg, what, validate, members, immutable=()) -> dict:
    """The document after an update: mask applied, validated, immutable fields and kind unchanged."""
    merged = _merge(existing, _strip_output_only(body), mask, sent, msg)
    problems = validate(merged)
    problems += [f"{field} is immutable" for field in immutable if merged.get(field) != existing.get(field)]
    kind = _kind(merged, members)
    if kind != existing["kind"] and not problems:
        problems.append(f"the {what} type is immutable: it is {existing['kind']}, the update makes it {kind}")
    if problems:
        raise _invalid(what, problems)
    server_kept = {"createTime": existing["createTime"], "updateTime": _now()}
    return {"name": existing["name"], **merged, "kind": kind, **server_kept}


def _merge(existing: dict, body: dict, mask: str | None, sent: list[Path], msg: Message) -> dict:
    """AIP-134: no mask updates the fields present in the body as sent, `*` replaces everything."""
    base = _strip_output_only(existing)
    if mask is None:
        paths = sent
        if not paths:
            raise InvalidArgument("the update changes nothing: the body sets no field and no updateMask was given")
    else:
        paths = fieldmask.parse_mask(mask, msg)
        if paths is None:
            return body
    settable = [p for p in paths if p[0] not in OUTPUT_ONLY]
    if not settable:
        only = ", ".join(sorted({p[0] for p in paths}))
        raise InvalidArgument(
            f"the update changes nothing: it names only output-only fields ({only}), which are ignored"
        )
    return fieldmask.apply_mask(base, body, settable, msg)


def _decoded(bodies: Sequence[dict], errors: list[tuple[int, ApiError]]) -> Iterator[tuple[int, dict]]:
    """(index, item) for each of `bodies` that decodes, a group at a time; each that does not goes to `errors`.

    `bodies` may decode an item as it is looked up (api.http.DecodedLazily), and fail for that item alone.
    A group of items decoded and then prepared takes less CPU than the same items decoded and prepared
    one by one, alternating (see _DECODED_TOGETHER)."""
    for start in range(0, len(bodies), _DECODED_TOGETHER):
        group = []
        for index in range(start, min(start + _DECODED_TOGETHER, len(bodies))):
            try:
                group.append((index, bodies[index]))
            except ApiError as exc:
                errors.append((index, exc))
        yield from group


def _batch_error(
    errors: list[tuple[int, ApiError]], single: bool, what: str = "no occurrences were created"
) -> ApiError:
    """One error for a failed create: the item's own for a single create, all items' for a batch."""
    errors.sort(key=lambda e: e[0])
    if single:
        return errors[0][1]
    first = errors[0][1]
    message = f"{what}: " + "; ".join(f"occurrences[{i}]: {e.message}" for i, e in errors)
    same = all(type(e) is type(first) for _, e in errors)
    return type(first)(message) if same else InvalidArgument(message)


def _notes_named(occ: NewOccurrence) -> list[NoteRef]:
    """The notes a new occurrence names, to each of which its writer must be allowed to attach."""
    return [occ.note, *_vex_notes(occ.data)]


def _vex_notes(data: dict) -> list[NoteRef]:
    """The note a VULNERABILITY occurrence's VEX assessment names: the gate reads it and quotes it, so
    naming it takes the right to attach to it, as naming the occurrence's own note does (none when the
    name is no note's: such a name reaches nothing)."""
    vex = (data.get("vulnerability") or {}).get("vexAssessment") or {}
    name = vex.get("noteName")
    if not isinstance(name, str) or not name:
        return []
    try:
        return [parse_note_name(name, "vulnerability.vexAssessment.noteName")]
    except InvalidArgument:
        return []
