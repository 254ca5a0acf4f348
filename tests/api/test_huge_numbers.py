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
