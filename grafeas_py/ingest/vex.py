"""A VEX document's assessments copied onto the findings they are about, as Artifact Analysis's load-vex does.

The gate reads VEX from a VULNERABILITY occurrence's `vexAssessment` only (see
gate/vulnerability_checks.py): an assessment note that no finding names changes no decision. So an
ingestion that plans VULNERABILITY_ASSESSMENT notes also sets `vexAssessment` on each finding of the
artifact that one of them fits (`assessment_fits`: the same vulnerability, the same artifact, and
every package issue in the package the note names, if it names one), naming that note. Where several
fit, the one that names a package wins over one about the whole artifact, and among those alike the
later in the plan wins. The state is copied whatever it is: AFFECTED clears nothing, but a reader
of the finding sees what the publisher said.

Pure: the caller reads the findings and writes what this returns.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..gate.purls import names_package
from ..gate.vulnerability_checks import assessed_keys, assessment_fits, finding_keys
from .plan import compact

# What a finding's vexAssessment shares with a note's assessment; the rest (descriptions) stays on the note.
_COPIED = ("cve", "vulnerabilityId", "relatedUris", "state", "impacts", "remediations", "justification")


class Assessments(dict):
    """Assessment notes by full name, in plan order, indexed by the vulnerability each assesses: a document
    of n assessments copied onto m findings compared n x m pairs (2,000 of each took 15 s)."""

    def __init__(self, notes: Mapping[str, dict]):
        super().__init__(notes)
        self._by_key: dict[str, list[int]] = {}
        for position, note in enumerate(self.values()):
            for key in assessed_keys(note):
                self._by_key.setdefault(key, []).append(position)
        self._items = list(self.items())

    def candidates(self, occurrence: dict) -> list[tuple[str, dict]]:
        """The (name, note) that may fit `occurrence`, in plan order: those assessing its vulnerability."""
        positions = {position for key in finding_keys(occurrence) for position in self._by_key.get(key, ())}
        return [self._items[position] for position in sorted(positions)]


def assessment_notes(notes: dict[str, dict]) -> Assessments:
    """The VULNERABILITY_ASSESSMENT notes among planned `notes` (by full name) that name their artifact."""
    return Assessments(
        {
            name: note
            for name, note in notes.items()
            if note.get("vulnerabilityAssessment", {}).get("product", {}).get("genericUri")
        }
    )


def artifacts(assessments: dict[str, dict]) -> list[str]:
    """The artifacts (`product.genericUri`) the assessments are about, each once."""
    uris = (note["vulnerabilityAssessment"]["product"]["genericUri"] for note in assessments.values())
    return list(dict.fromkeys(uris))


def assessed(occurrence: dict, assessments: Mapping[str, dict]) -> dict | None:
    """The finding with the `vexAssessment` of the assessment that fits it best, or None when none fits."""
    if "vulnerability" not in occurrence:
        return None
    if not isinstance(assessments, Assessments):
        assessments = Assessments(assessments)
    fitting = [(name, note) for name, note in assessments.candidates(occurrence) if assessment_fits(note, occurrence)]
    if not fitting:
        return None
    # max() keeps the first of equals: reversed, that is the later one in the plan.
    name, note = max(reversed(fitting), key=lambda item: _names_package(item[1]))
    copied = {key: value for key, value in note["vulnerabilityAssessment"]["assessment"].items() if key in _COPIED}
    vex = compact(**copied, noteName=name)
    return {**occurrence, "vulnerability": {**occurrence["vulnerability"], "vexAssessment": vex}}


def in_batch_order(notes: Mapping[str, dict]) -> list[str]:
    """The names of `notes` in an order to send them in batches, each copied on its own, that ends as
    copying them in one would: what names no package first, then what does, each in plan order. A later
    batch's assessment of the whole artifact must not undo an earlier one's about the finding's package."""
    return sorted(notes, key=lambda name: _names_package(notes[name]))  # stable: plan order within each


def _names_package(note: dict) -> bool:
    """Whether `note` is an assessment of one package (anything else: of no package)."""
    return names_package(note.get("vulnerabilityAssessment", {}).get("product", {}).get("id", ""))
