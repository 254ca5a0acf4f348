"""Which findings a VEX document's assessments are copied onto, and what is copied (ingest/vex.py)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grafeas_py.gate.context import canonical_note_name
from grafeas_py.gate.occurrences import Malformed, note_id
from grafeas_py.gate.vulnerability_checks import _same_vulnerability, assessed_keys, assessment_fits, finding_keys
from grafeas_py.ingest.plan import safe_note_id
from grafeas_py.ingest.vex import artifacts, assessed, assessment_notes

IMAGE = "https://gcr.io/acme/app@sha256:" + "a" * 64
OTHER = "https://gcr.io/acme/other@sha256:" + "b" * 64


def note(vulnerability="CVE-2024-1", package="", uri=IMAGE, state="NOT_AFFECTED") -> dict:
    assessment = {"vulnerabilityId": vulnerability, "state": state, "shortDescription": "not copied"}
    product = {"name": "app", "genericUri": uri, **({"id": package} if package else {})}
    return {"vulnerabilityAssessment": {"title": "VEX", "product": product, "assessment": assessment}}


def finding(vulnerability="CVE-2024-1", location="pkg:pypi/requests", version="2.31.0", uri=IMAGE) -> dict:
    issue = {"affectedCpeUri": location, "affectedPackage": "requests", "affectedVersion": {"name": version}}
    return {
        "resourceUri": uri,
        "noteName": f"projects/vulnz/notes/{vulnerability}",
        "vulnerability": {"severity": "HIGH", "packageIssue": [issue]},
    }


def copied(occurrence: dict, notes: dict) -> dict | None:
    result = assessed(occurrence, assessment_notes(notes))
    return None if result is None else result["vulnerability"]["vexAssessment"]


def test_the_assessment_is_copied_with_its_note_and_without_its_descriptions():
    justification = {"justificationType": "VULNERABLE_CODE_NOT_PRESENT", "details": "stripped"}
    body = note()
    body["vulnerabilityAssessment"]["assessment"] |= {"justification": justification, "impacts": ["none"]}
    result = assessed(finding(), {"projects/p/notes/vex-1": body})
    assert result["vulnerability"] == {
        **finding()["vulnerability"],
        "vexAssessment": {
            "vulnerabilityId": "CVE-2024-1",
            "state": "NOT_AFFECTED",
            "justification": justification,
            "impacts": ["none"],
            "noteName": "projects/p/notes/vex-1",
        },
    }
    assert {k: v for k, v in result.items() if k != "vulnerability"} == {
        k: v for k, v in finding().items() if k != "vulnerability"
    }


@pytest.mark.parametrize(
    "body, occurrence",
    [
        (note(vulnerability="CVE-2024-2"), finding()),  # another vulnerability
        (note(uri=OTHER), finding()),  # another artifact
        (note(package="pkg:pypi/urllib3@2.0.0"), finding()),  # another package
        (note(package="pkg:pypi/requests@2.32.3"), finding()),  # another version of it
        (note(vulnerability=""), finding()),  # no vulnerability named: it must not reach every finding
    ],
    ids=["vulnerability", "artifact", "package", "version", "unnamed"],
)
def test_an_assessment_about_something_else_is_not_copied(body, occurrence):
    assert copied(occurrence, {"projects/p/notes/vex": body}) is None


def test_only_vulnerability_occurrences_get_one():
    package = {"resourceUri": IMAGE, "noteName": "projects/p/notes/CVE-2024-1", "package": {"name": "requests"}}
    assert assessed(package, {"projects/p/notes/vex": note()}) is None


def test_the_same_artifact_spelled_otherwise_and_the_id_in_other_case_get_it():
    tagged = IMAGE.replace("app@", "app:1.0@")
    assert copied(finding(vulnerability="cve-2024-1", uri=tagged), {"projects/p/notes/vex": note()}) is not None


def test_a_note_naming_the_package_wins_over_one_about_the_whole_artifact_and_the_later_over_the_earlier():
    notes = {
        "projects/p/notes/whole": note(state="AFFECTED"),
        "projects/p/notes/first": note(package="pkg:pypi/requests@2.31.0", state="UNDER_INVESTIGATION"),
        "projects/p/notes/second": note(package="pkg:pypi/requests", state="NOT_AFFECTED"),
        "projects/p/notes/whole-again": note(state="FIXED"),
    }
    assert copied(finding(), notes)["noteName"] == "projects/p/notes/second"
    assert copied(finding(location="pkg:pypi/urllib3"), notes)["noteName"] == "projects/p/notes/whole-again"


def test_only_notes_that_name_their_artifact_are_assessments():
    plain = {"vulnerability": {"severity": "HIGH"}}
    notes = {"projects/p/notes/a": note(), "projects/p/notes/b": note(uri=OTHER), "projects/p/notes/c": plain}
    assert list(assessment_notes(notes)) == ["projects/p/notes/a", "projects/p/notes/b"]
    assert artifacts({**assessment_notes(notes), "projects/p/notes/d": note()}) == [IMAGE, OTHER]


SPELLINGS = [
    "CVE-2024-1",
    "cve-2024-1",
    "GHSA-9wx4-h78v-vm56",
    "RHSA-2024:1234",
    "RHSA-2024/1234",
    "@babel/core",
    "x/" * 60,
]


@pytest.mark.parametrize("assessed_id", SPELLINGS)
@pytest.mark.parametrize("finding_id", [*SPELLINGS, *(safe_note_id(s) for s in SPELLINGS)])
def test_the_index_pairs_a_note_and_a_finding_exactly_when_the_gate_would(assessed_id, finding_id):
    """The index only narrows the notes to compare; it must never leave out one that fits."""
    occurrence = finding(vulnerability=finding_id)
    keys_meet = bool(assessed_keys(note(vulnerability=assessed_id)) & finding_keys(occurrence))
    assert keys_meet == _same_vulnerability(assessed_id, note_id(occurrence["noteName"]))


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_the_index_pairs_any_two_ids_exactly_when_the_gate_would(assessed_id, finding_id):
    occurrence = {"noteName": f"projects/vulnz/notes/{finding_id}"}
    try:
        stored_id = note_id(canonical_note_name(occurrence["noteName"]) or "")
    except Malformed:
        stored_id = ""
    keys_meet = bool(assessed_keys(note(vulnerability=assessed_id)) & finding_keys(occurrence))
    assert keys_meet == bool(stored_id and _same_vulnerability(assessed_id, stored_id))


def test_copying_n_assessments_onto_n_findings_compares_each_finding_with_its_own_only(monkeypatch):
    """Every finding was compared with every note: 2,000 of each took 15 s, 20,000 would take half an hour.
    Counted in comparisons, not timed."""
    from grafeas_py.ingest import vex

    compared = []

    def counting(note_body, occurrence):
        compared.append(1)
        return assessment_fits(note_body, occurrence)

    monkeypatch.setattr(vex, "assessment_fits", counting)
    notes = assessment_notes({f"projects/p/notes/vex-{i}": note(vulnerability=f"CVE-2024-{i}") for i in range(300)})
    assert all(assessed(finding(vulnerability=f"CVE-2024-{i}"), notes) for i in range(300))
    assert len(compared) == 300
