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

from ..gate.purls import names_package
from ..gate.vulnerability_checks import assessment_fits
from .plan import compact

# What a finding's vexAssessment shares with a note's assessment; the rest (descriptions) stays on the note.
_COPIED = ("cve", "vulnerabilityId", "relatedUris", "state", "impacts", "remediations", "justification")


def assessment_notes(notes: dict[str, dict]) -> dict[str, dict]:
    """The VULNERABILITY_ASSESSMENT notes among planned `notes` (by full name) that name their artifact."""
    return {
        name: note
        for name, note in notes.items()
        if note.get("vulnerabilityAssessment", {}).get("product", {}).get("genericUri")
    }


def artifacts(assessments: dict[str, dict]) -> list[str]:
    """The artifacts (`product.genericUri`) the assessments are about, each once."""
    uris = (note["vulnerabilityAssessment"]["product"]["genericUri"] for note in assessments.values())
    return list(dict.fromkeys(uris))


def assessed(occurrence: dict, assessments: dict[str, dict]) -> dict | None:
    """The finding with the `vexAssessment` of the assessment that fits it best, or None when none fits."""
    if "vulnerability" not in occurrence:
        return None
    fitting = [(name, note) for name, note in assessments.items() if assessment_fits(note, occurrence)]
    if not fitting:
        return None
    # max() keeps the first of equals: reversed, that is the later one in the plan.
    name, note = max(reversed(fitting), key=lambda item: _names_package(item[1]))
    copied = {key: value for key, value in note["vulnerabilityAssessment"]["assessment"].items() if key in _COPIED}
    vex = compact(**copied, noteName=name)
    return {**occurrence, "vulnerability": {**occurrence["vulnerability"], "vexAssessment": vex}}


def _names_package(note: dict) -> bool:
    return names_package(note["vulnerabilityAssessment"]["product"].get("id", ""))
