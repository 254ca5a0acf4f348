"""The storage interface. Documents are canonical proto3-JSON dicts, complete with name and times."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..auth.audit import AuditEntry
from ..auth.authz import Binding
from ..auth.tokens import TokenRecord
from ..names import NoteRef

# A page key: a row's pk, or a tuple where one number does not order the items (an artifact's timeline).
Key = int | tuple[int, ...]


# Bytes of documents a page holds by default (the API uses its body limit, which this is by default).
PAGE_BYTES = 32 << 20


@dataclass(frozen=True)
class PageRequest:
    """Up to `size` items that come after the item with key `after` (0: from the start), and of documents
    only so many as `max_bytes` holds, past the first (see `keyset.within_bytes`)."""

    size: int
    after: Key = 0
    max_bytes: int = PAGE_BYTES


@dataclass(frozen=True)
class Page:
    """Items (documents, or records such as AuditEntry) in key order; `last` is the key of the last item,
    `more` whether any follow."""

    items: list
    last: Key
    more: bool


def page_of(items: list, rows: list, page: PageRequest) -> Page:
    """The page among `rows` (fetched with one extra to tell whether more follow)."""
    more = more_follow(rows, page)
    if len(rows) > page.size:
        items, rows = items[: page.size], rows[: page.size]
    return Page(items=items, last=rows[-1].pk if rows else page.after, more=more)


def more_follow(rows: list, page: PageRequest) -> bool:
    """Whether items follow `rows`: they were fetched with one extra, or are fewer than the query held
    before its byte budget cut them (their `fetched` column, see `keyset.within_bytes`)."""
    return len(rows) > page.size or (bool(rows) and getattr(rows[0], "fetched", 0) > len(rows))


@dataclass(frozen=True)
class NewOccurrence:
    """An occurrence to write: its canonical document, the note it is attached to, and the key of the
    artifact it is about where its URI spells that otherwise (`gate.artifacts.stored_artifact_key`)."""

    occurrence_id: str
    note: NoteRef
    kind: str
    resource_uri: str
    data: dict
    artifact_key: str | None


@dataclass(frozen=True)
class OccurrenceUpdate:
    """A stored occurrence to replace: its new document, the revision it was read at, the fields that change."""

    occurrence_id: str
    data: dict
    revision: int
    changed_fields: list[str]


class Storage(abc.ABC):
    """What the API needs from a store; every method is one atomic operation.

    Each change also keeps the revision it replaces and records an entry in the audit trail, in the
    same transaction, recording the principal the request acts as (`auth.context`)."""

    # Projects
    @abc.abstractmethod
    def create_project(self, project_id: str, create_time: str) -> dict: ...

    @abc.abstractmethod
    def get_project(self, project_id: str) -> dict: ...

    @abc.abstractmethod
    def list_projects(self, page: PageRequest, only: Collection[str] | None = None, filter_=None) -> Page:
        """Projects in key order that match `filter_`; only those named in `only`, unless it is None."""

    @abc.abstractmethod
    def delete_project(self, project_id: str) -> None: ...

    # Notes
    @abc.abstractmethod
    def create_notes(self, project_id: str, notes: dict[str, dict]) -> list[dict]:
        """Create every note (keyed by note id) or none; AlreadyExists names a taken id, and
        FailedPrecondition an id still named by occurrences of another kind."""

    @abc.abstractmethod
    def get_note(self, project_id: str, note_id: str) -> dict: ...

    @abc.abstractmethod
    def list_notes(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        """Notes in key order; `filter_` is a tree from `grafeas_py.filtering.parse`."""

    @abc.abstractmethod
    def update_note(
        self, project_id: str, note_id: str, data: dict, revision: int, changed_fields: Sequence[str] = ()
    ) -> dict:
        """Replace a note read at `revision`; Aborted if it changed since."""

    @abc.abstractmethod
    def delete_note(self, project_id: str, note_id: str) -> None: ...

    @abc.abstractmethod
    def note_kinds(self, refs: Iterable[NoteRef]) -> dict[NoteRef, str]:
        """The kind of each existing note among `refs`."""

    @abc.abstractmethod
    def get_notes(self, refs: Iterable[NoteRef]) -> dict[NoteRef, dict]:
        """The notes among `refs` that exist."""

    @abc.abstractmethod
    def other_occurrence_kinds(self, wanted: Mapping[NoteRef, str]) -> dict[NoteRef, str]:
        """For each note and kind in `wanted`, the kind of an occurrence naming the note that is not that
        kind, where one does (occurrences outlive their note, so the note need not exist)."""

    # Occurrences
    @abc.abstractmethod
    def create_occurrences(self, project_id: str, occurrences: Iterable[NewOccurrence]) -> list[dict]:
        """Create every occurrence or none: an exception raised while `occurrences` is read leaves none."""

    @abc.abstractmethod
    def create_occurrence_if_note_matches(self, project_id: str, occurrence: NewOccurrence) -> dict | None:
        """Create one occurrence if its note exists and has its kind, atomically; None if not."""

    @abc.abstractmethod
    def ingest(
        self,
        project_id: str,
        new_notes: dict[str, dict[str, dict]],
        created: list[NewOccurrence],
        updated: list[OccurrenceUpdate],
    ) -> int:
        """Create the notes (by project, then id) and occurrences and replace the updated occurrences, all
        in one transaction; the number of notes created. A note that exists by then is left as it is;
        Aborted, with nothing written, if another request wrote any of the occurrences meanwhile or
        replaced a note they name by one of another kind, and FailedPrecondition if occurrences of
        another kind name a note to create."""

    @abc.abstractmethod
    def create_occurrences_unless_taken(self, project_id: str, occurrences: list[NewOccurrence]) -> list[dict] | None:
        """Create all of them in one transaction, or nothing (None) if any of their ids is taken."""

    @abc.abstractmethod
    def get_occurrences(self, project_id: str, occurrence_ids: list[str]) -> dict[str, dict]:
        """The occurrences of those ids that exist, by id."""

    @abc.abstractmethod
    def get_occurrences_with_revisions(self, project_id: str, occurrence_ids: list[str]) -> dict[str, tuple[dict, int]]:
        """The occurrences of those ids that exist, with the revision each is at, by id."""

    @abc.abstractmethod
    def existing_occurrence_ids(self, project_id: str, occurrence_ids: list[str]) -> set[str]:
        """Those of the ids that occurrences have, their documents unread."""

    @abc.abstractmethod
    def deleted_occurrence_uris(self, project_id: str, occurrence_ids: list[str]) -> dict[str, str]:
        """The resource URI each of those ids had when it was last deleted, by id, for those ever deleted."""

    @abc.abstractmethod
    def get_occurrence(self, project_id: str, occurrence_id: str) -> dict: ...

    @abc.abstractmethod
    def get_occurrence_with_revision(self, project_id: str, occurrence_id: str) -> tuple[dict, int]: ...

    @abc.abstractmethod
    def get_note_with_revision(self, project_id: str, note_id: str) -> tuple[dict, int]: ...

    @abc.abstractmethod
    def list_occurrences(self, project_id: str, page: PageRequest, filter_=None) -> Page: ...

    @abc.abstractmethod
    def update_occurrence(
        self, project_id: str, occurrence_id: str, data: dict, revision: int, changed_fields: Sequence[str] = ()
    ) -> dict:
        """Replace an occurrence read at `revision`; Aborted if it changed since."""

    @abc.abstractmethod
    def delete_occurrence(self, project_id: str, occurrence_id: str, revision: int | None = None) -> None:
        """Delete an occurrence (only as read at `revision`, if given; Aborted if it changed since)."""

    @abc.abstractmethod
    def get_occurrence_note(self, project_id: str, occurrence_id: str) -> dict: ...

    @abc.abstractmethod
    def list_note_occurrences(
        self, note: NoteRef, page: PageRequest, filter_=None, projects: Collection[str] | None = None
    ) -> Page:
        """Occurrences of a note in every project, or in those named in `projects` unless it is None."""

    @abc.abstractmethod
    def vulnerability_summary(self, project_id: str, filter_=None) -> list[tuple[str, str, int, int]]:
        """(resource URI, severity, total, fixable) counts of VULNERABILITY occurrences."""

    # History
    @abc.abstractmethod
    def list_revisions(self, resource_type: str, project_id: str, resource_id: str, page: PageRequest) -> Page:
        """Every revision of a note or occurrence (`resource_type`), oldest first, tombstones included."""

    @abc.abstractmethod
    def artifact_history(
        self, project_id: str, resource_uris: list[str], artifact_keys: list[str], page: PageRequest
    ) -> Page:
        """One artifact's occurrence revisions and gate decisions in a project (stored under any of
        `resource_uris`, its spellings, or kept with one of its `artifact_keys`), by time."""

    # Access control
    @abc.abstractmethod
    def create_token(self, record: TokenRecord) -> None: ...

    @abc.abstractmethod
    def get_token(self, token_id: str) -> TokenRecord | None: ...

    @abc.abstractmethod
    def list_tokens(self) -> list[TokenRecord]: ...

    @abc.abstractmethod
    def revoke_tokens(self, name: str, token_id: str | None, when: dt.datetime) -> list[TokenRecord]:
        """Revoke the unrevoked tokens of `name` (only `token_id`, if given); NotFound if there are none."""

    @abc.abstractmethod
    def create_binding(self, binding: Binding, create_time: str) -> None: ...

    @abc.abstractmethod
    def delete_binding(self, binding: Binding) -> None: ...

    @abc.abstractmethod
    def list_bindings(self, project: str | None = None) -> list[Binding]: ...

    @abc.abstractmethod
    def bindings_version(self) -> tuple[int, int]:
        """A value that changes whenever a binding is added or removed."""

    @abc.abstractmethod
    def seal_audit(self, wait: float = 0.0) -> int:
        """Link the recorded audit entries that may be sealed into the hash chain; how many were."""

    @abc.abstractmethod
    def audit_entries(self, batch: int = 1000, from_seq: int = 1) -> Iterator[AuditEntry]:
        """The sealed audit trail from seq `from_seq` on, in seq order, streamed."""

    @abc.abstractmethod
    def list_audit_entries(self, page: PageRequest, filter_=None) -> Page:
        """Sealed audit entries (AuditEntry) in seq order that match `filter_` (a tree from `filtering.parse`)."""

    @abc.abstractmethod
    def pending_audit_entries(self) -> int:
        """How many recorded audit entries wait to be sealed."""

    # Operations
    @abc.abstractmethod
    def ping(self) -> str | None:
        """The schema revision the database is at (None if never migrated); raises if unreachable."""

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Raise what a write would if the database refuses writes (a read-only SQLite file); writes nothing."""

    @abc.abstractmethod
    def secret(self, name: str, make) -> str:
        """A server-wide secret, made by `make()` on first use and then shared by every instance."""
