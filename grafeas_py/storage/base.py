"""The storage interface. Documents are canonical proto3-JSON dicts, complete with name and times."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass

from ..names import NoteRef


@dataclass(frozen=True)
class PageRequest:
    """Up to `size` items that come after the item with key `after` (0: from the start)."""

    size: int
    after: int = 0


@dataclass(frozen=True)
class Page:
    """Items in key order; `last` is the key of the last item, `more` whether any follow."""

    items: list[dict]
    last: int
    more: bool


def page_of(items: list[dict], rows: list, page: PageRequest) -> Page:
    """The page among `rows` (fetched with one extra to tell whether more follow)."""
    more = len(rows) > page.size
    if more:
        items, rows = items[: page.size], rows[: page.size]
    return Page(items=items, last=rows[-1].pk if rows else page.after, more=more)


@dataclass(frozen=True)
class NewOccurrence:
    """An occurrence to write: its canonical document and the note it is attached to."""

    occurrence_id: str
    note: NoteRef
    kind: str
    resource_uri: str
    data: dict


class Storage(abc.ABC):
    """What the API needs from a store; every method is one atomic operation."""

    # Projects
    @abc.abstractmethod
    def create_project(self, project_id: str, create_time: str) -> dict: ...

    @abc.abstractmethod
    def get_project(self, project_id: str) -> dict: ...

    @abc.abstractmethod
    def list_projects(self, page: PageRequest) -> Page: ...

    @abc.abstractmethod
    def delete_project(self, project_id: str) -> None: ...

    # Notes
    @abc.abstractmethod
    def create_notes(self, project_id: str, notes: dict[str, dict]) -> list[dict]:
        """Create every note (keyed by note id) or none; AlreadyExists names a taken id."""

    @abc.abstractmethod
    def get_note(self, project_id: str, note_id: str) -> dict: ...

    @abc.abstractmethod
    def list_notes(self, project_id: str, page: PageRequest, filter_=None) -> Page:
        """Notes in key order; `filter_` is a tree from `grafeas_py.filtering.parse`."""

    @abc.abstractmethod
    def update_note(self, project_id: str, note_id: str, data: dict, revision: int) -> dict:
        """Replace a note read at `revision`; Aborted if it changed since."""

    @abc.abstractmethod
    def delete_note(self, project_id: str, note_id: str) -> None: ...

    @abc.abstractmethod
    def note_kinds(self, refs: Iterable[NoteRef]) -> dict[NoteRef, str]:
        """The kind of each existing note among `refs`."""

    # Occurrences
    @abc.abstractmethod
    def create_occurrences(self, project_id: str, occurrences: list[NewOccurrence]) -> list[dict]:
        """Create every occurrence or none."""

    @abc.abstractmethod
    def create_missing_occurrences(self, project_id: str, occurrences: list[NewOccurrence]) -> list[dict]:
        """Create the occurrences whose ids are not taken, skip the rest; return those created."""

    @abc.abstractmethod
    def get_occurrence(self, project_id: str, occurrence_id: str) -> dict: ...

    @abc.abstractmethod
    def get_occurrence_with_revision(self, project_id: str, occurrence_id: str) -> tuple[dict, int]: ...

    @abc.abstractmethod
    def get_note_with_revision(self, project_id: str, note_id: str) -> tuple[dict, int]: ...

    @abc.abstractmethod
    def list_occurrences(self, project_id: str, page: PageRequest, filter_=None) -> Page: ...

    @abc.abstractmethod
    def update_occurrence(self, project_id: str, occurrence_id: str, data: dict, revision: int) -> dict:
        """Replace an occurrence read at `revision`; Aborted if it changed since."""

    @abc.abstractmethod
    def delete_occurrence(self, project_id: str, occurrence_id: str) -> None: ...

    @abc.abstractmethod
    def get_occurrence_note(self, project_id: str, occurrence_id: str) -> dict: ...

    @abc.abstractmethod
    def list_note_occurrences(self, note: NoteRef, page: PageRequest, filter_=None) -> Page:
        """Occurrences of a note in every project."""

    @abc.abstractmethod
    def vulnerability_summary(self, project_id: str, filter_=None) -> list[tuple[str, str, int, int]]:
        """(resource URI, severity, total, fixable) counts of VULNERABILITY occurrences."""

    # Operations
    @abc.abstractmethod
    def ping(self) -> str | None:
        """The schema revision the database is at (None if never migrated); raises if unreachable."""

    @abc.abstractmethod
    def secret(self, name: str, make) -> str:
        """A server-wide secret, made by `make()` on first use and then shared by every instance."""
