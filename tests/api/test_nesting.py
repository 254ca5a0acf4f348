"""Documents nested deeper, or holding more values, than the server can store and answer again: a clear
400, never a 500.

orjson parses request bodies up to 1024 levels but writes answers only up to 255, and the official
client's protobuf parser stops at 100 messages deep: a Struct nested 248 levels was stored, and from
then on every page of listings that held it answered 500; deeper ones were a 500 at once."""

import json

import pytest

from tests.factories import NOTE_BODIES

PROVENANCE = "build.inTotoSlsaProvenanceV1.predicate.buildDefinition.externalParameters"


def nested(levels: int) -> str:
    """JSON text of `levels` objects, one inside the other (too deep for json.dumps to write)."""
    return '{"a": ' * levels + '"x"' + "}" * levels


def occurrence_text(project: str, parameters: str) -> str:
    """An occurrence whose SLSA provenance has `parameters` (JSON text) as its externalParameters."""
    head = {"resourceUri": "https://gcr.io/acme/deep@sha256:" + "d" * 64, "noteName": f"projects/{project}/notes/b"}
    body = {
        **head,
        "build": {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": {"externalParameters": "@"}}}},
    }
    return json.dumps(body).replace('"@"', parameters)


@pytest.fixture
def build_note(http, project):
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "b"}, json=NOTE_BODIES["BUILD"])
    assert r.status_code == 200, r.text


def post(http, path: str, text: str):
    return http.post(path, data=text, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("levels", [33, 248, 990])
def test_a_struct_nested_too_deeply_is_a_400_naming_where(http, project, build_note, levels):
    r = post(http, f"/v1/projects/{project}/occurrences", occurrence_text(project, nested(levels)))
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text
    message = r.json()["error"]["message"]
    assert f"occurrence.{PROVENANCE}['a']['a']" in message and "nested more than 32 objects or lists deep" in message


def test_a_struct_as_deep_as_allowed_is_stored_listed_and_read_by_history(http, project, build_note):
    r = post(http, f"/v1/projects/{project}/occurrences", occurrence_text(project, nested(32)))
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    listed = http.get(f"/v1/projects/{project}/occurrences")
    assert listed.status_code == 200 and [o["name"] for o in listed.json()["occurrences"]] == [name]
    assert http.get(f"/v1/{name}:history").status_code == 200
    assert http.get(f"/v1/projects/{project}/notes/b/occurrences").status_code == 200


def test_an_any_nested_in_anys_too_deeply_is_a_400(http, project, build_note):
    anys = '{"@type": "type.googleapis.com/google.protobuf.Any", "value": ' * 400 + "{}" + "}" * 400
    head = f'"resourceUri": "https://gcr.io/acme/deep", "noteName": "projects/{project}/notes/b"'
    text = f'{{{head}, "build": {{"intotoProvenance": {{"recipe": {{"arguments": [{anys}]}}}}}}}}'
    r = post(http, f"/v1/projects/{project}/occurrences", text)
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text
    assert "nested more than 32 objects or lists deep" in r.json()["error"]["message"]


def test_a_struct_of_more_values_than_allowed_is_a_400(http, project, build_note):
    """11 million empty objects fit a 32 MB body, and took PostgreSQL gigabytes to parse into JSONB."""
    values = "{" + '"x": [' + ", ".join(["{}"] * 99_999) + "]}"  # the object, its list and 99,999 more: 100,001
    r = post(http, f"/v1/projects/{project}/occurrences", occurrence_text(project, values))
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text[:500]
    assert f"occurrence.{PROVENANCE}: holds more than 100000 values" in r.json()["error"]["message"]
    r = post(http, f"/v1/projects/{project}/occurrences", occurrence_text(project, values.replace("{}, ", "", 1)))
    assert r.status_code == 200, r.text[:500]


@pytest.mark.parametrize("levels", [500, 990])
def test_a_policy_nested_too_deeply_is_a_400(http, project, levels):
    text = '{"rules": {"artifacts": {"allow": ' + "[" * levels + "]" * levels + "}}}"
    r = post(http, f"/v1/projects/{project}/policies?policyId=deep", text)
    assert (r.status_code, r.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), r.text
