"""What a report becomes: the notes it needs and the occurrences it records, each with an idempotency key.

Idempotency keys are the sha256 hex of the JSON array `[format, resourceUri, *identity]`, where the
identity is what makes one finding a finding in that format (for a vulnerability: its id, the
package, the installed version and where the package was found; for a whole document, such as a
scan's DISCOVERY occurrence, an SBOM reference or an attestation: the sha256 of the document or of
the signed payload). A JSON array cannot be confused by a separator inside a value. The same report
ingested twice yields the same keys; two findings that differ yield different keys; a report that
lists the same finding twice yields one occurrence.

When a format's identity of a finding changes, its occurrences also carry the key the finding had
before (`legacy_key`): what earlier versions stored under it is found and updated, not duplicated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import orjson

from grafeas_py.errors import InvalidArgument
from grafeas_py.names import note_name
from grafeas_py.wire.grafeas_types import KIND_BY_NOTE_TYPE

# Note ids appear as a URL path segment, so they keep to characters no router or proxy rewrites.
_NOTE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NOTE_ID = 100
# Assessment notes one VEX document may plan: all are validated and stored in one transaction, and an
# OpenVEX statement makes one per package and vulnerability name, so a small document could ask for
# millions. As many as the gate reads occurrences of one artifact.
MAX_ASSESSMENTS = 20_000


@dataclass(frozen=True, slots=True)
class PlannedOccurrence:
    """An occurrence to create, or to update the one with the same key to: its body has no name or times.

    `legacy_key`, when set, is the key earlier versions gave the same finding: the occurrence stored
    under it is updated when none is stored under `key`."""

    key: str
    body: dict
    legacy_key: str = ""


@dataclass(frozen=True)
class IngestPlan:
    """Everything one report maps to, all in canonical Grafeas v1 proto3-JSON form.

    `notes` maps full note names to note bodies (no name or times): create each one that is
    missing and never overwrite one that exists. `occurrences` are in report order, but for a scan's
    DISCOVERY, which comes last.
    `document_sha256` identifies the raw report, for callers that keep it.
    """

    format: str
    project: str
    resource_uri: str
    document_sha256: str
    notes: dict[str, dict] = field(default_factory=dict)
    occurrences: list[PlannedOccurrence] = field(default_factory=list)


def occurrence_key(format: str, resource_uri: str, identity: tuple[str, ...]) -> str:
    """The idempotency key of one occurrence (see the module docstring)."""
    return hashlib.sha256(orjson.dumps([format, resource_uri, *identity])).hexdigest()


def safe_note_id(text: str) -> str:
    """A note id made from free text: kept as is when already safe, else cleaned and suffixed with its hash.

    The hash suffix keeps names that clean to the same text apart, e.g. npm's `@babel/core` and a
    package called `babel-core`.
    """
    if 0 < len(text) <= _MAX_NOTE_ID and not _NOTE_ID_CHARS.search(text) and text not in (".", ".."):
        return text
    cleaned = _NOTE_ID_CHARS.sub("-", text).strip("-.")[:_MAX_NOTE_ID].rstrip("-.")
    suffix = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned}-{suffix}" if cleaned else f"id-{suffix}"


def note_kind(body: dict) -> str | None:
    """The kind of a note body: the one kind member it holds, e.g. "PACKAGE" for `package`."""
    return next((KIND_BY_NOTE_TYPE[key] for key in body if key in KIND_BY_NOTE_TYPE), None)


def alternative_note_id(note_id: str, kind: str) -> str:
    """The id a note takes when a note of another kind holds its own: `sbom-cyclonedx-1-6-package`."""
    return f"{note_id}-{kind.lower().replace('_', '-')}"


def uri_note_id(uri: str) -> str:
    """A note id for a URI such as a predicate type or builder id, without its scheme."""
    return safe_note_id(uri.split("://", 1)[-1])


def check_assessments(count: int, path: str) -> None:
    """InvalidArgument once a VEX document has planned more than MAX_ASSESSMENTS, before it plans them all."""
    if count > MAX_ASSESSMENTS:
        raise InvalidArgument(
            f"{path}: more than {MAX_ASSESSMENTS} assessments (one per package and vulnerability named) for "
            "one artifact; split the document"
        )


def compact(**fields) -> dict:
    """A message dict without the members at their proto3 default, as the canonical form omits them.

    The defaults (None for "not given", "", 0, False, empty lists and maps) are exactly Python's
    falsy values.
    """
    return {k: v for k, v in fields.items() if v}


def normal_version(name: str) -> dict:
    """A Version of kind NORMAL holding a tool's version string whole, as name and fullName."""
    return {"name": name, "kind": "NORMAL", "fullName": name}


class PlanBuilder:
    """Collects notes and occurrences for one report; the format mappers call it."""

    def __init__(self, format: str, project: str, note_project: str, resource_uri: str, raw: bytes, now: str):
        self.format = format
        self.note_project = note_project
        self.resource_uri = resource_uri
        self.now = now
        self.document_sha256 = hashlib.sha256(raw).hexdigest()
        self._plan = IngestPlan(format, project, resource_uri, self.document_sha256)
        self._keys: set[str] = set()

    def note(self, note_id: str, body: dict) -> str:
        """Add a note unless one of that id is planned already; returns its full name.

        Package notes are named after the package, so a package may be named like another note of
        the report (the SBOM's own `sbom-cyclonedx-1-6`): the later one takes its alternative id."""
        name = note_name(self.note_project, note_id)
        planned = self._plan.notes.setdefault(name, body)
        if note_kind(planned) != note_kind(body):
            name = note_name(self.note_project, alternative_note_id(note_id, note_kind(body)))
            self._plan.notes.setdefault(name, body)
        return name

    def occurrence(
        self,
        note: str,
        details: dict,
        identity: tuple[str, ...],
        envelope: dict | None = None,
        legacy_identity: tuple[str, ...] | None = None,
    ) -> None:
        """Add an occurrence of `note`; `details` holds the one kind member, e.g. {"vulnerability": {...}}.
        `legacy_identity` is the identity earlier versions gave the finding, when it was another."""
        key = occurrence_key(self.format, self.resource_uri, identity)
        if key in self._keys:
            return  # the same finding listed twice in one report
        self._keys.add(key)
        body = {"resourceUri": self.resource_uri, "noteName": note, **details}
        if envelope:
            body["envelope"] = envelope
        legacy_key = occurrence_key(self.format, self.resource_uri, legacy_identity) if legacy_identity else ""
        self._plan.occurrences.append(PlannedOccurrence(key, body, legacy_key if legacy_key != key else ""))

    def build(self) -> IngestPlan:
        # A scan's DISCOVERY says it finished: it goes after everything the scan found, so that a report
        # sent in several batches never records the scan as done while some of its findings are unsent.
        self._plan.occurrences.sort(key=lambda item: "discovery" in item.body)
        return self._plan
