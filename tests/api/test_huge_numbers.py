"""Numbers past what Python converts (int() stops at 4300 digits, Decimal at its exponent limits): a
400 like any other bad number, where they were a 500."""

import pytest

DIGITS = "1" * 5000


@pytest.mark.parametrize(
    "filter_",
    [
        f'vulnerability.effectiveSeverity="{DIGITS}"',
        f"build.intotoProvenance.recipe.definedInMaterial>1e{DIGITS}",
        f"build.intotoProvenance.recipe.definedInMaterial>1e-{DIGITS}",
    ],
    ids=["enum number", "exponent", "negative exponent"],
)
def test_a_filter_with_a_huge_number_is_a_400(http, project, filter_):
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": filter_})
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:500]


def test_an_enum_given_as_a_huge_number_is_a_400(http, project):
    body = {"resourceUri": "https://x", "noteName": f"projects/{project}/notes/n"}
    r = http.post(f"/v1/projects/{project}/occurrences", json={**body, "vulnerability": {"effectiveSeverity": DIGITS}})
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:500]
    assert "is not a grafeas.v1.Severity" in r.json()["error"]["message"]


@pytest.mark.parametrize("value", [f"1e{DIGITS}", f"1e-{DIGITS}", f"{DIGITS}.5", DIGITS])
def test_an_int64_given_as_huge_text_is_a_400_naming_it(http, project, value):
    body = {"resourceUri": "https://x", "noteName": f"projects/{project}/notes/n"}
    body["build"] = {"intotoProvenance": {"recipe": {"definedInMaterial": value}}}
    r = http.post(f"/v1/projects/{project}/occurrences", json=body)
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:500]
    assert "build.intotoProvenance.recipe.definedInMaterial" in r.json()["error"]["message"]


@pytest.mark.parametrize("value", ["-9223372036854775809", "-9223372036854776832"])
def test_an_int64_below_its_range_is_a_400_naming_it(http, project, value):
    # orjson reads these as the float -2**63, int64's minimum; protobuf refuses them.
    body = '{"build": {"intotoProvenance": {"recipe": {"definedInMaterial": ' + value + "}}}}"
    r = http.post(f"/v1/projects/{project}/occurrences", data=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:500]
    assert "build.intotoProvenance.recipe.definedInMaterial" in r.json()["error"]["message"]


@pytest.mark.parametrize("literal", ["1.2345678901234567e19", "12345678901234567168", "-9.5e18"])
def test_a_double_of_2_to_the_53_or_more_is_found_by_equality(http, project, literal):
    # Stored as the exact integer it is; PostgreSQL's containment compared 12345678901234567000 with it.
    note = f"projects/{project}/notes/epss"
    details = {"details": [{"affectedCpeUri": "cpe:/a:x", "affectedPackage": "x"}]}
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "epss"}, json={"vulnerability": details}).ok
    issue = {"affectedCpeUri": "cpe:/a:x", "affectedPackage": "x"}
    issue |= {"affectedVersion": {"kind": "MAXIMUM"}, "fixedVersion": {"kind": "MAXIMUM"}}
    score = float(literal)
    body = {"resourceUri": "https://x", "noteName": note}
    body["vulnerability"] = {"risk": {"epss": {"score": score}}, "packageIssue": [issue]}
    created = http.post(f"/v1/projects/{project}/occurrences", json=body).json()
    for op, found in (("=", [created["name"]]), ("!=", []), (">=", [created["name"]]), ("<", [])):
        params = {"filter": f"vulnerability.risk.epss.score {op} {literal}"}
        r = http.get(f"/v1/projects/{project}/occurrences", params=params)
        assert [o["name"] for o in r.json().get("occurrences", [])] == found, (op, r.text[:300])
