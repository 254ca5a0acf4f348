"""What every rule check receives (the artifact, its occurrences, the time) and what it returns (findings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import InvalidArgument
from ..names import parse_note_name
from .artifacts import Artifact
from .model import Attestor
from .occurrences import Malformed


@dataclass(frozen=True)
class Finding:
    """A problem one rule found; the engine adds the rule name and mode to make it a Violation."""

    code: str
    message: str
    evidence: tuple[str, ...] = ()
    waived: bool = False  # an unexpired exemption covers it: recorded, but it does not count
    advisory: bool = False  # a warning whatever the rule's mode (a dryrun rule's stays dryrun): it never denies


MAX_SIGNATURE_CHECKS = 1024  # per decision


class Unverified(Malformed):
    """An attestation met after the decision's signature checks were spent: what it says is unknown, so a
    rule it could have failed must not pass."""


@dataclass
class Context:
    """The artifact under evaluation and its occurrences, grouped by kind; records which occurrences were read."""

    artifact: Artifact
    now: datetime
    occurrences: list[dict]
    attestors: dict[str, Attestor]
    # The notes read for what occurrences leave to them (vulnerability_checks.notes_needed), by name;
    # None when the caller gave none.
    notes: Mapping[str, dict] | None = None
    used: set[str] = field(default_factory=set)
    by_kind: dict[str, list[dict]] = field(init=False)
    # Signatures (and JWTs) the decision may still verify: each costs up to milliseconds of CPU, and
    # anyone who may write attestations could otherwise make one evaluation cost minutes.
    signature_checks_left: int = MAX_SIGNATURE_CHECKS

    def __post_init__(self) -> None:
        self.by_kind = {}
        for occurrence in self.occurrences:
            self.by_kind.setdefault(occurrence.get("kind", "NOTE_KIND_UNSPECIFIED"), []).append(occurrence)

    @property
    def uri(self) -> str:
        return self.artifact.uri

    def spend_signature_checks(self, count: int) -> None:
        """Take `count` checks from the decision's budget; Unverified (the attestation vouches for nothing)
        once it is spent."""
        if count > self.signature_checks_left:
            raise Unverified(
                f"not verified: the decision has checked {MAX_SIGNATURE_CHECKS - self.signature_checks_left} "
                f"signatures, and checks at most {MAX_SIGNATURE_CHECKS}"
            )
        self.signature_checks_left -= count

    def of_kind(self, *kinds: str, note_name: str | None = None) -> list[dict]:
        """The occurrences of these kinds (on one note, if given), marked as used by the decision."""
        found = [
            occurrence
            for kind in kinds
            for occurrence in self.by_kind.get(kind, ())
            if note_name is None or canonical_note_name(occurrence.get("noteName")) == note_name
        ]
        self.used.update(occurrence["name"] for occurrence in found)
        return found


def canonical_note_name(name) -> str | None:
    """`projects/P/notes/N` for a note name with or without a location (occurrences stored before
    the server wrote one spelling may hold the other); anything else as it is."""
    if isinstance(name, str) and "/locations/" in name:
        try:
            return parse_note_name(name).name
        except InvalidArgument:
            return name
    return name


def malformed(occurrence: dict, problem: Exception, consequence: str) -> Finding:
    """The finding for an occurrence a rule cannot read."""
    name = occurrence["name"]
    return Finding("OCCURRENCE_MALFORMED", f"cannot read occurrence {name}: {problem}; {consequence}", (name,))
