"""Paging: sizes, signed tokens bound to their request, and keyset stability under writes."""

import base64
import os

import pytest

from grafeas_py import create_app
from grafeas_py.config import Settings
from tests.conftest import Http, serve
from tests.factories import NOTE_BODIES, occurrence_body

MiB = 1 << 20


def make_notes(http, project, count):
    body = {"notes": {f"n{i:03d}": NOTE_BODIES["BUILD"] for i in range(count)}}
    assert http.post(f"/v1/projects/{project}/notes:batchCreate", json=body).status_code == 200


def walk(http, path, page_size, **params):
    names, token, pages = [], None, 0
    while True:
        query = {"pageSize": page_size, **params}
        if token:
            query["pageToken"] = token
        body = http.get(path, params=query).json()
        names += [item["name"] for item in body.get("notes", body.get("occurrences", []))]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            return names, pages


def test_default_page_size_is_20(http, project):
    make_notes(http, project, 25)
    body = http.get(f"/v1/projects/{project}/notes").json()
    assert len(body["notes"]) == 20
    assert body["nextPageToken"]


def test_walk_sees_everything_once_and_last_page_has_no_token(http, project):
    make_notes(http, project, 10)
    names, pages = walk(http, f"/v1/projects/{project}/notes", 3)
    assert names == [f"projects/{project}/notes/n{i:03d}" for i in range(10)]
    assert pages == 4


def test_exact_multiple_has_no_empty_trailing_page(http, project):
    make_notes(http, project, 6)
    _, pages = walk(http, f"/v1/projects/{project}/notes", 3)
    assert pages == 2


def test_empty_collection_is_an_empty_object(http, project):
    assert http.get(f"/v1/projects/{project}/notes").json() == {}


@pytest.mark.parametrize("size, message", [(-1, "must not be negative"), (1001, "at most 1000")])
def test_page_size_bounds(http, project, size, message):
    r = http.get(f"/v1/projects/{project}/notes", params={"pageSize": size})
    assert r.status_code == 400
    assert message in r.json()["error"]["message"]


def test_page_size_1000_is_allowed(http, project):
    assert http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1000}).status_code == 200


def test_snake_case_query_names(http, project):
    make_notes(http, project, 3)
    body = http.get(f"/v1/projects/{project}/notes", params={"page_size": 2}).json()
    assert len(body["notes"]) == 2
    second = http.get(f"/v1/projects/{project}/notes", params={"page_size": 2, "page_token": body["nextPageToken"]})
    assert [n["name"] for n in second.json()["notes"]] == [f"projects/{project}/notes/n002"]


def test_forged_or_altered_token_is_400(http, project):
    make_notes(http, project, 3)
    token = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1}).json()["nextPageToken"]
    for bad in ("garbage", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), token + "x"):
        r = http.get(f"/v1/projects/{project}/notes", params={"pageToken": bad})
        assert r.status_code == 400, bad
        assert "pageToken is invalid" in r.json()["error"]["message"]


def test_token_is_bound_to_its_parent(http, project):
    make_notes(http, project, 3)
    token = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1}).json()["nextPageToken"]
    r = http.get(f"/v1/projects/other-{project}/notes", params={"pageToken": token})
    assert r.status_code == 400
    assert "different list request" in r.json()["error"]["message"]
    r = http.get(f"/v1/projects/{project}/occurrences", params={"pageToken": token})
    assert r.status_code == 400


def test_paging_under_concurrent_inserts_and_deletes(http, project):
    """Items that exist throughout are seen exactly once, whatever else changes meanwhile."""
    note = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()
    items = [occurrence_body("BUILD", note["name"], f"uri-{i}") for i in range(30)]
    created = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items}).json()
    names = [o["name"] for o in created["occurrences"]]
    stable, doomed = set(names[::2]), names[1::2]
    seen, token, step = [], None, 0
    while True:
        params = {"pageSize": 4, **({"pageToken": token} if token else {})}
        body = http.get(f"/v1/projects/{project}/occurrences", params=params).json()
        seen += [o["name"] for o in body.get("occurrences", [])]
        # meanwhile: delete an odd item and add a new one
        if step < len(doomed):
            assert http.delete(f"/v1/{doomed[step]}").status_code == 200
        http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("BUILD", note["name"], "new"))
        step += 1
        token = body.get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert stable <= set(seen), "an item that existed throughout was skipped"


def test_walks_of_interleaved_projects_see_their_own_items_in_order_once(http, project):
    """Pages of one project's occurrences, filtered or not, and of a note's occurrences across projects,
    read in creation (key) order whatever lies between: each item once, no token after the last."""
    other = project + "-x"
    note = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()
    mine, theirs = [], []
    for batch in range(4):  # the two projects' items alternate in runs of 5 in key order
        for owner, names in ((project, mine), (other, theirs)):
            items = [occurrence_body("BUILD", note["name"], f"uri-{batch}-{i}") for i in range(5)]
            body = http.post(f"/v1/projects/{owner}/occurrences:batchCreate", json={"occurrences": items}).json()
            names += [o["name"] for o in body["occurrences"]]
    assert walk(http, f"/v1/projects/{project}/occurrences", 3) == (mine, 7)
    assert walk(http, f"/v1/projects/{other}/occurrences", 4, filter='kind="BUILD"') == (theirs, 5)
    both = [name for run in range(4) for names in (mine, theirs) for name in names[run * 5 : run * 5 + 5]]
    assert walk(http, f"/v1/{note['name']}/occurrences", 6) == (both, 7)


def _big_text(mebibytes: float) -> str:
    """Text of that size that does not compress (PostgreSQL counts a document's stored size)."""
    return base64.b64encode(os.urandom(int(mebibytes * MiB * 3 / 4))).decode()


def _pages(http, path: str) -> list[list[str]]:
    """The names on each page of a walk through `path` with the largest page size."""
    pages, token = [], None
    while True:
        body = http.get(path, params={"pageSize": 1000, **({"pageToken": token} if token else {})}).json()
        pages.append([item["name"] for item in body.get("notes", body.get("occurrences", []))])
        token = body.get("nextPageToken")
        if not token:
            return pages


def test_a_page_of_big_documents_ends_early_and_the_next_pages_hold_the_rest(http, app, project):
    """A page holds about as many bytes of documents as a request body may, whatever its size asks: a
    thousand documents of a few megabytes would be read, decoded and encoded whole by one worker."""
    assert app.config["MAX_CONTENT_LENGTH"] == 4 * MiB  # the tests' body limit: so, a page's budget
    note = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).json()
    made = []
    for size in (1.5, 1.5, 1.5, 0, 3.9, 0.2, 0):
        body = occurrence_body("BUILD", note["name"], "uri") | ({"remediation": _big_text(size)} if size else {})
        made.append(http.post(f"/v1/projects/{project}/occurrences", json=body).json()["name"])
    # The document that takes a page past 4 MiB ends it: the third (4.5 MiB), then the one after
    # the 3.9 MiB one (4.1 MiB).
    expected = [made[:3], made[3:6], made[6:]]
    assert _pages(http, f"/v1/projects/{project}/occurrences") == expected
    assert _pages(http, f"/v1/{note['name']}/occurrences") == expected


def test_a_document_bigger_than_a_page_comes_alone(http, database_url, project):
    """The first document of a page is always sent, however big, or a page could hold nothing and never
    move on: as when the body limit, and with it pages, is lowered below documents stored before."""
    for note_id in ("a", "b", "c"):
        body = NOTE_BODIES["BUILD"] | {"longDescription": _big_text(1.5)}
        assert http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=body).status_code == 200
    smaller = create_app(Settings(database_url=database_url, max_body_bytes=1 * MiB, audit_seal_seconds=0))
    try:
        with serve(smaller) as base, Http(base) as small:
            pages = _pages(small, f"/v1/projects/{project}/notes")
    finally:
        smaller.extensions["grafeas"].storage.dispose()
    assert pages == [[f"projects/{project}/notes/{note_id}"] for note_id in "abc"]


def test_a_page_token_tells_nothing_of_what_it_holds(http, project):
    """Signed only, a token showed its collection and row key, and keys are numbered across projects:
    a caller reading its own tokens learned how many rows other projects wrote meanwhile."""
    make_notes(http, project, 3)
    token = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1}).json()["nextPageToken"]
    opened = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert project.encode() not in opened and b"notes" not in opened
    again = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1}).json()["nextPageToken"]
    assert again != token  # a fresh nonce each time: equal pages do not even give equal tokens
