"""The Projects API."""

import pytest

from tests.factories import NOTE_BODIES


def test_create_get_list_delete(http, project):
    r = http.post("/v1/projects", json={"name": f"projects/{project}"})
    assert (r.status_code, r.json()) == (200, {"name": f"projects/{project}"})
    assert http.get(f"/v1/projects/{project}").json() == {"name": f"projects/{project}"}
    listed = []
    token = None
    while True:
        body = http.get("/v1/projects", params={"pageSize": 100, **({"pageToken": token} if token else {})}).json()
        listed += [p["name"] for p in body.get("projects", [])]
        token = body.get("nextPageToken")
        if not token:
            break
    assert f"projects/{project}" in listed
    assert http.delete(f"/v1/projects/{project}").json() == {}
    assert http.get(f"/v1/projects/{project}").status_code == 404


def test_duplicate_project_is_409(http, project):
    http.post("/v1/projects", json={"name": f"projects/{project}"})
    r = http.post("/v1/projects", json={"name": f"projects/{project}"})
    assert r.status_code == 409
    assert r.json()["error"]["status"] == "ALREADY_EXISTS"


def test_bad_project_names_are_400(http):
    for body in ({}, {"name": "nope"}, {"name": "projects/"}, {"name": "projects/a/b"}, {"name": 5}):
        r = http.post("/v1/projects", json=body)
        assert r.status_code == 400, body
        assert "projects/[PROJECT_ID]" in r.json()["error"]["message"]


@pytest.mark.parametrize("body", [{"name": "projects/P", "bogus": 1}, {"project": {"name": "projects/P"}}])
def test_unknown_project_fields_are_400_naming_them(http, project, body):
    body = {k: (v.replace("P", project) if isinstance(v, str) else v) for k, v in body.items()}
    r = http.post("/v1/projects", json=body)
    unknown = next(k for k in body if k != "name")
    assert r.status_code == 400 and f"unknown field {unknown!r}" in r.json()["error"]["message"], r.text
    assert http.get(f"/v1/projects/{project}").status_code == 404


def test_project_with_notes_cannot_be_deleted(http, project):
    http.post("/v1/projects", json={"name": f"projects/{project}"})
    http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
    r = http.delete(f"/v1/projects/{project}")
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert http.get(f"/v1/projects/{project}").status_code == 200


def test_project_with_policies_cannot_be_deleted(http, project):
    http.post("/v1/projects", json={"name": f"projects/{project}"})
    policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "HIGH"}}}
    assert http.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json=policy).status_code == 200
    r = http.delete(f"/v1/projects/{project}")
    assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION", r.text
    assert "policies" in r.json()["error"]["message"]
    assert http.get(f"/v1/projects/{project}").status_code == 200
    assert http.delete(f"/v1/projects/{project}/policies/prod").status_code == 200
    assert http.delete(f"/v1/projects/{project}").status_code == 200


def test_missing_project_is_404(http, project):
    assert http.get(f"/v1/projects/{project}").status_code == 404
    assert http.delete(f"/v1/projects/{project}").status_code == 404


def _listed(http, filter_: str, **params) -> list[str]:
    r = http.get("/v1/projects", params={"filter": filter_, "pageSize": 1000, **params})
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json().get("projects", [])]


def test_list_filters_on_name(http, project):
    a, b, c, odd = (f"projects/{project}{suffix}" for suffix in ("-a", "-b", "-c", "_100%"))
    for name in (a, b, c, odd):
        assert http.post("/v1/projects", json={"name": name}).status_code == 200
    ours = f'has_prefix(name, "projects/{project}-")'
    assert _listed(http, ours) == [a, b, c]
    assert _listed(http, f'name="{b}"') == [b]
    assert _listed(http, f'name:"{b}"') == [b]
    assert _listed(http, f'{ours} name!="{b}"') == [a, c]
    assert _listed(http, f'{ours} AND NOT has_suffix(name, "-c")') == [a, b]
    assert _listed(http, f'{ours} AND name > "{a}"') == [b, c]
    assert _listed(http, f'name="{b}" OR name="{c}"') == [b, c]
    # % and _ are matched as themselves, not as LIKE's wildcards
    assert _listed(http, f'has_prefix(name, "projects/{project}_")') == [odd]
    assert _listed(http, f'has_suffix(name, "{project}_100%")') == [odd]
    assert _listed(http, 'has_suffix(name, "_1%")') == []
    assert _listed(http, f'has_prefix(name, "projects/{project}") AND name:*') == [a, b, c, odd]


def test_filtered_project_pages_keep_the_filter(http, project):
    names = [f"projects/{project}-{i}" for i in range(3)]
    for name in names:
        http.post("/v1/projects", json={"name": name})
    ours = f'has_prefix(name, "projects/{project}-")'
    first = http.get("/v1/projects", params={"filter": ours, "pageSize": 2}).json()
    assert [p["name"] for p in first["projects"]] == names[:2]
    params = {"filter": ours, "pageSize": 2, "pageToken": first["nextPageToken"]}
    second = http.get("/v1/projects", params=params).json()
    assert second == {"projects": [{"name": names[2]}]}
    r = http.get("/v1/projects", params={**params, "filter": 'name="projects/other"'})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_bad_project_filters_are_400(http):
    for filter_, message in (
        ('color="red"', "filter: unknown field 'color'; projects filter on name"),
        ('has_prefix(name, "projects/a"', "filter"),
        ("name=5", "filter: name takes text, not the number 5; quote it"),
        ('kind="VULNERABILITY"', "filter: unknown field 'kind'; projects filter on name"),
    ):
        r = http.get("/v1/projects", params={"filter": filter_})
        assert r.status_code == 400, (filter_, r.text)
        assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert message in r.json()["error"]["message"], r.json()["error"]["message"]
