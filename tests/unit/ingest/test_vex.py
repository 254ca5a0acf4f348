"""Which findings a VEX document's assessments are copied onto, and what is copied (ingest/vex.py)."""

import pytest

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
