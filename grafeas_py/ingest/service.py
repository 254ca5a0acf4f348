"""Applying ingestion plans: notes created when missing, occurrences created once per idempotency key.

An occurrence's id is derived from its key (the first 128 bits, written as a UUID), so the key is
recorded on the occurrence itself: posting the same report again, or retrying after a dropped
connection, finds the ids taken and creates nothing. A finding already recorded is left as it is.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ..auth import roles
from ..errors import AlreadyExists, InvalidArgument
from ..names import parse_note_name, project_name
from .plan import PlannedOccurrence
from .report import parse_report

BATCH = 1000  # items per transaction, as for batchCreate
_KEY = re.compile(r"[0-9a-f]{64}")


def occurrence_id(key: str) -> str:
    """The occurrence id an idempotency key maps to."""
    if not _KEY.fullmatch(key):
        raise InvalidArgument(f"an idempotency key is 64 lowercase hex digits (a sha256), got {key!r}")
    return str(uuid.UUID(hex=key[:32]))


@dataclass
class Summary:
    """What an ingestion did."""

    created: int = 0
    unchanged: int = 0
    notes_created: int = 0

    def to_dict(self) -> dict:
        return {"created": self.created, "unchanged": self.unchanged, "notesCreated": self.notes_created}


class Ingest:
    """Reports and plans into the store, through the same service (validation, note checks) as the API."""

    def __init__(self, grafeas) -> None:
        self.grafeas = grafeas

    def report(self, project: str, format_: str, raw: bytes, resource_uri: str, note_project: str, now) -> dict:
        """Parse a whole report first (a malformed one writes nothing), then apply it in batches."""
        plan = parse_report(
            format_, raw, resource_uri=resource_uri, project=project, note_project=note_project, now=now
        )
        summary = self.apply(project, plan.notes, plan.occurrences)
        return {**summary.to_dict(), "documentSha256": plan.document_sha256}

    def apply(self, project: str, notes: dict[str, dict], occurrences: list[PlannedOccurrence]) -> Summary:
        # Before the notes: a caller who may not create the occurrences must not leave notes behind,
        # nor get an answer for a plan with nothing in it.
        self.grafeas.access.require(roles.OCCURRENCES_CREATE, project, project_name(project))
        summary = Summary(notes_created=self.ensure_notes(notes))
        for start in range(0, len(occurrences), BATCH):
            chunk = occurrences[start : start + BATCH]
            items = [(occurrence_id(item.key), item.body) for item in chunk]
            created = len(self.grafeas.create_missing_occurrences(project, items))
            summary.created += created
            summary.unchanged += len(chunk) - created
        return summary

    def ensure_notes(self, notes: dict[str, dict]) -> int:
        """Create the notes that do not exist yet (never overwriting one); how many were created."""
        refs = {parse_note_name(name, "note"): body for name, body in notes.items()}
        # Attaching to them is needed anyway; asked first, whether a note exists is told only to who may.
        for project in sorted({ref.project for ref in refs}):
            self.grafeas.access.require(roles.NOTES_ATTACH_OCCURRENCE, project)
        created = 0
        for attempt in (1, 2):
            existing = self.grafeas.storage.note_kinds(refs)
            missing = [ref for ref in refs if ref not in existing]
            by_project: dict[str, dict[str, dict]] = {}
            for ref in missing:
                by_project.setdefault(ref.project, {})[ref.note_id] = refs[ref]
            try:
                for project, bodies in by_project.items():
                    ids = list(bodies)
                    for start in range(0, len(ids), BATCH):
                        chunk = {note_id: bodies[note_id] for note_id in ids[start : start + BATCH]}
                        created += len(self.grafeas.batch_create_notes(project, chunk))
                return created
            except AlreadyExists:  # a concurrent ingestion created some of them: look again
                if attempt == 2:
                    raise
        return created
