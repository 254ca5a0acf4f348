"""Applying ingestion plans: a whole report in one transaction, or nothing of it.

Notes are created when missing and never overwritten. An occurrence's id is derived from its
idempotency key (the first 128 bits, written as a UUID), so the key is recorded on the occurrence
itself: posting the same report again, or retrying after a dropped connection, finds the ids taken
and creates nothing. A finding recorded before is updated when it comes with other content (a
rescan raised its severity, say), and left unwritten when it comes the same. A planned occurrence
with a legacy key (plan.PlannedOccurrence) takes the legacy key's id when only that one is stored.
A planned note whose id another kind holds (a note, or occurrences kept after their note was
deleted) takes its alternative id (plan.alternative_note_id), as within one report. A plan's
VEX assessments are copied onto the findings of their artifact that they fit (vex.py), in the same
transaction; a later rescan keeps them (service._keeping_vex).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ..auth import roles
from ..errors import Aborted, FailedPrecondition, InvalidArgument
from ..gate import service as gate
from ..gate.artifacts import artifact_lookup
from ..names import NoteRef, parse_note_name, project_name
from . import vex
from .plan import PlannedOccurrence, alternative_note_id, note_kind
from .report import parse_report

_KEY = re.compile(r"[0-9a-f]{64}")


def occurrence_id(key: str) -> str:
    """The occurrence id an idempotency key maps to."""
    if not _KEY.fullmatch(key):
        raise InvalidArgument(f"an idempotency key is 64 lowercase hex digits (a sha256), got {key!r}")
    return str(uuid.UUID(hex=key[:32]))


def occurrence_ids(occurrences: list[PlannedOccurrence]) -> list[str]:
    """The id of each occurrence; InvalidArgument names every bad or repeated key by its position."""
    ids: list[str] = []
    first: dict[str, int] = {}
    problems = []
    for index, item in enumerate(occurrences):
        try:
            if item.legacy_key:
                occurrence_id(item.legacy_key)
            ids.append(occurrence_id(item.key))
        except InvalidArgument as exc:
            problems.append(f"occurrences[{index}]: {exc.message}")
            continue
        if first.setdefault(ids[-1], index) != index:
            problems.append(f"occurrences[{index}]: the key of occurrences[{first[ids[-1]]}] again")
    if problems:
        raise InvalidArgument("nothing was written: " + "; ".join(problems))
    return ids


@dataclass
class Summary:
    """What an ingestion did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    notes_created: int = 0

    def to_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "notesCreated": self.notes_created,
        }


class Ingest:
    """Reports and plans into the store, through the same service (validation, note checks) as the API."""

    def __init__(self, grafeas) -> None:
        self.grafeas = grafeas

    def report(
        self, project: str, format_: str, raw: bytes, resource_uri: str, note_project: str, now, suite=None
    ) -> dict:
        """Parse a whole report first (a malformed one writes nothing), then apply it."""
        # Asked before the parse too: a caller who may not write here gets no work done on its behalf.
        self.grafeas.access.require(roles.OCCURRENCES_CREATE, project, project_name(project))
        plan = parse_report(
            format_, raw, resource_uri=resource_uri, project=project, note_project=note_project, now=now, suite=suite
        )
        summary = self.apply(project, plan.notes, plan.occurrences)
        return {**summary.to_dict(), "documentSha256": plan.document_sha256}

    def apply(self, project: str, notes: dict[str, dict], occurrences: list[PlannedOccurrence]) -> Summary:
        """Write a plan in one transaction once all of it is valid; a problem names the item's position."""
        # First: a caller who may not create the occurrences gets no answer for a plan with nothing in it.
        self.grafeas.access.require(roles.OCCURRENCES_CREATE, project, project_name(project))
        ids = occurrence_ids(occurrences)
        for attempt in (1, 2):
            try:
                stored_ids = self.legacy_ids(project, occurrences, ids)
                moved, bodies = self.move_taken_notes(notes, [item.body for item in occurrences])
                items, read_at = self.with_vex(project, moved, list(zip(stored_ids, bodies, strict=True)))
                done = self.grafeas.ingest(project, moved, items, read_at)
                return Summary(done.created, done.updated, done.unchanged, done.notes_created)
            except Aborted:  # a concurrent ingestion wrote some of the same: look again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def with_vex(
        self, project: str, notes: dict[str, dict], items: list[tuple[str, dict]]
    ) -> tuple[list[tuple[str, dict]], dict[str, int]]:
        """The (id, body) items, with the plan's VEX assessments copied onto the findings they fit (vex.py):
        its own, and those stored for the artifact in `project`, which follow as updates; and the
        revision each of those was read at, which must be current when they are written."""
        assessments = vex.assessment_notes(notes)
        if not assessments:
            return items, {}
        items = [(occurrence_id, vex.assessed(body, assessments) or body) for occurrence_id, body in items]
        planned = {occurrence_id for occurrence_id, _ in items}
        read_at: dict[str, int] = {}
        for uri in vex.artifacts(assessments):
            uris, keys = artifact_lookup(uri)
            limit = gate.MAX_OCCURRENCES  # as many as the gate reads
            found = self.grafeas.storage.artifact_occurrences([project], uris, keys, limit + 1)
            if len(found) > limit:
                raise FailedPrecondition(
                    f"{uri!r} has more than {limit} occurrences in project {project!r}: the VEX "
                    "assessments cannot be copied onto its findings; nothing was written"
                )
            fitting = [
                occurrence["name"].rsplit("/", 1)[1] for occurrence in found if vex.assessed(occurrence, assessments)
            ]
            fitting = [occurrence_id for occurrence_id in fitting if occurrence_id not in planned]
            # Read again with revisions: a copy is the whole finding, and must not overwrite a newer one.
            stored = self.grafeas.storage.get_occurrences_with_revisions(project, fitting)
            for occurrence_id in fitting:
                if occurrence_id not in stored:
                    continue  # deleted meanwhile
                occurrence, revision = stored[occurrence_id]
                copied = vex.assessed(occurrence, assessments)
                if copied is not None:
                    items.append((occurrence_id, copied))
                    planned.add(occurrence_id)
                    read_at[occurrence_id] = revision
        return items, read_at

    def legacy_ids(self, project: str, occurrences: list[PlannedOccurrence], ids: list[str]) -> list[str]:
        """The ids, but the legacy key's id where only that one is stored: a finding keyed another way
        by earlier versions stays the occurrence they created, rather than being created a second time."""
        legacy = {index: occurrence_id(item.legacy_key) for index, item in enumerate(occurrences) if item.legacy_key}
        if not legacy:
            return ids
        wanted = sorted({*(ids[index] for index in legacy), *legacy.values()})
        stored = self.grafeas.storage.existing_occurrence_ids(project, wanted)  # grafeas.ingest reads the documents
        chosen, taken = list(ids), set(ids)
        for index, old in legacy.items():
            if ids[index] not in stored and old in stored and old not in taken:
                chosen[index] = old
                taken.add(old)
        return chosen

    def move_taken_notes(self, notes: dict[str, dict], bodies: list[dict]) -> tuple[dict[str, dict], list[dict]]:
        """Planned notes whose ids another kind holds take their alternative ids, as in one report
        (PlanBuilder.note), and so do the occurrences on them: a package note named `trivy-scan` must not
        make every later Trivy scan in its project fail. Another kind holds an id with a stored note, or
        with occurrences kept after their note was deleted, which a note of this kind may not join."""
        refs = {parse_note_name(name, f"notes[{name!r}]"): name for name in notes}
        # Attaching to them is needed anyway; asked first, whether a note exists is told only to who may.
        for note_project in sorted({ref.project for ref in refs}):
            self.grafeas.access.require(roles.NOTES_ATTACH_OCCURRENCE, note_project)
        kinds = {ref: note_kind(notes[name]) for ref, name in refs.items()}
        alternatives = {
            ref: NoteRef(ref.project, alternative_note_id(ref.note_id, kinds[ref])) for ref in refs if kinds[ref]
        }
        storage = self.grafeas.storage
        stored = storage.note_kinds([*refs, *alternatives.values()])
        # Kept occurrences matter only where no note is stored; an alternative only where its id is held.
        orphaned = storage.other_occurrence_kinds({ref: kinds[ref] for ref in alternatives if ref not in stored})
        held = [ref for ref in alternatives if stored.get(ref, kinds[ref]) != kinds[ref] or ref in orphaned]
        wanted = {alternatives[ref]: kinds[ref] for ref in held if alternatives[ref] not in stored}
        taken = storage.other_occurrence_kinds(wanted)
        moved = {
            refs[ref]: alternatives[ref].name
            for ref in held
            if stored.get(alternatives[ref], kinds[ref]) == kinds[ref]
            and alternatives[ref] not in taken
            and alternatives[ref].name not in notes
        }
        if not moved:
            return notes, bodies
        notes = {moved.get(name, name): body for name, body in notes.items()}
        bodies = [
            {**body, "noteName": moved[body["noteName"]]} if body.get("noteName") in moved else body for body in bodies
        ]
        return notes, bodies
