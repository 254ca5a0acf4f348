"""The Projects API."""

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


def test_project_with_notes_cannot_be_deleted(http, project):
    http.post("/v1/projects", json={"name": f"projects/{project}"})
    http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
    r = http.delete(f"/v1/projects/{project}")
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert http.get(f"/v1/projects/{project}").status_code == 200


def test_missing_project_is_404(http, project):
    assert http.get(f"/v1/projects/{project}").status_code == 404
    assert http.delete(f"/v1/projects/{project}").status_code == 404
