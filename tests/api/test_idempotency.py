"""Idempotency-Key on CreateOccurrence and BatchCreateOccurrences: a CI job may retry a create
whose answer it never saw, and nothing is written twice."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from grafeas_py import create_app
from grafeas_py.config import Settings
from tests.conftest import Http, serve
from tests.factories import IMAGE, NOTE_BODIES, occurrence_body


@pytest.fixture
def note(http, project):
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "cve"}, json=NOTE_BODIES["VULNERABILITY"])
    assert r.status_code == 200, r.text
    return r.json()["name"]


def key() -> dict:
    return {"Idempotency-Key": f"ci-run-{uuid.uuid4()}"}


def listed(http, project) -> list[dict]:
    return http.get(f"/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json().get("occurrences", [])


def test_a_retried_create_answers_as_the_first_did_and_writes_nothing(http, project, note):
    headers, body = key(), occurrence_body("VULNERABILITY", note)
    first = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
    again = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()  # same name, same createTime
    assert uuid.UUID(first.json()["name"].rsplit("/", 1)[1]).version == 8  # a keyed hash (names.KeyedIds)
    assert listed(http, project) == [first.json()]
    history = http.get(f"/v1/{first.json()['name']}:history").json()["revisions"]
    assert [h["action"] for h in history] == ["CREATE"]


def test_a_retried_batch_answers_with_the_same_occurrences_in_order(http, project, note):
    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(5)]}
    first = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    again = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert [o["resourceUri"] for o in first.json()["occurrences"]] == [f"{IMAGE}-{i}" for i in range(5)]
    assert len(listed(http, project)) == 5


@contextmanager
def instance(database_url: str, secret_key: str | None = None):
    """Another instance of the server on the same database, as a session."""
    app = create_app(Settings(database_url=database_url, secret_key=secret_key, audit_seal_seconds=0))
    try:
        with serve(app) as base, Http(base) as session:
            yield session
    finally:
        app.extensions["grafeas"].storage.dispose()


def test_a_retry_that_another_instance_answers_finds_what_the_first_created(http, database_url, project, note):
    """The ids' secret is kept in the database, so every instance, and one restarted, makes the same ids."""
    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(3)]}
    first = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert first.status_code == 200, first.text
    with instance(database_url) as other:
        again = other.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert len(listed(http, project)) == 3


def test_instances_with_one_grafeas_secret_key_agree_and_another_key_makes_other_ids(http, database_url, project, note):
    """As the README says of rotating GRAFEAS_SECRET_KEY: a retry after it creates its occurrences anew."""
    headers, body = key(), occurrence_body("VULNERABILITY", note)
    path = f"/v1/projects/{project}/occurrences"
    with (
        instance(database_url, "one") as one,
        instance(database_url, "one") as same,
        instance(database_url, "two") as two,
    ):
        first = one.post(path, json=body, headers=headers)
        again = same.post(path, json=body, headers=headers)
        rotated = two.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == rotated.status_code == 200, rotated.text
    assert again.json() == first.json()
    assert rotated.json()["name"] != first.json()["name"]
    fresh = http.post(path, json=body, headers=headers)  # the database's own secret: other ids again
    assert fresh.status_code == 200 and fresh.json()["name"] not in (first.json()["name"], rotated.json()["name"])
    assert len(listed(http, project)) == 3


def test_without_a_key_each_create_is_new(http, project, note):
    body = occurrence_body("VULNERABILITY", note)
    names = {http.post(f"/v1/projects/{project}/occurrences", json=body).json()["name"] for _ in range(2)}
    assert len(names) == 2


def test_a_key_used_for_another_request_is_409_and_writes_nothing(http, project, note):
    headers = key()
    first = http.post(
        f"/v1/projects/{project}/occurrences", json=occurrence_body("VULNERABILITY", note), headers=headers
    )
    assert first.status_code == 200, first.text
    other = occurrence_body("VULNERABILITY", note, f"{IMAGE}-other")
    r = http.post(f"/v1/projects/{project}/occurrences", json=other, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["status"] == "ALREADY_EXISTS", r.text
    assert "Idempotency-Key" in r.json()["error"]["message"]
    # A batch whose first item is the one created, and a second one: still another request.
    batch = {"occurrences": [occurrence_body("VULNERABILITY", note), other]}
    r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=batch, headers=headers)
    assert r.status_code == 409, r.text
    assert listed(http, project) == [first.json()]


def test_a_retry_of_part_of_a_batch_is_409_not_the_part(http, project, note):
    """A key's batch of three retried as its first item alone answered 200 with that one occurrence."""
    headers = key()
    items = [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(3)]
    first = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items}, headers=headers)
    assert first.status_code == 200, first.text
    for path, body in (
        ("occurrences:batchCreate", {"occurrences": items[:2]}),
        ("occurrences:batchCreate", {"occurrences": items[:1]}),
        ("occurrences", items[0]),
    ):
        r = http.post(f"/v1/projects/{project}/{path}", json=body, headers=headers)
        assert r.status_code == 409 and r.json()["error"]["status"] == "ALREADY_EXISTS", r.text
        assert "for a request of more occurrences than this one" in r.json()["error"]["message"]
    assert sorted(o["name"] for o in listed(http, project)) == sorted(o["name"] for o in first.json()["occurrences"])


def test_a_retry_after_the_occurrence_changed_is_409(http, project, note):
    headers, body = key(), occurrence_body("VULNERABILITY", note)
    created = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers).json()
    patch = {"vulnerability": {**body["vulnerability"], "cvssScore": 1.5}}
    assert http.patch(f"/v1/{created['name']}", json=patch).status_code == 200
    r = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
    assert r.status_code == 409 and "changed since" in r.json()["error"]["message"], r.text


def test_a_key_whose_occurrence_was_deleted_is_409_and_recreates_nothing(http, project, note):
    headers, body = key(), occurrence_body("VULNERABILITY", note)
    created = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers).json()
    assert http.delete(f"/v1/{created['name']}").status_code == 200
    other = occurrence_body("VULNERABILITY", note, f"{IMAGE}-other")
    for retried in (other, body):  # another request, and the very one whose answer was lost
        r = http.post(f"/v1/projects/{project}/occurrences", json=retried, headers=headers)
        assert r.status_code == 409 and r.json()["error"]["status"] == "ALREADY_EXISTS", r.text
        assert "deleted" in r.json()["error"]["message"], r.text
    assert http.get(f"/v1/{created['name']}").status_code == 404
    history = http.get(f"/v1/{created['name']}:history").json()["revisions"]
    assert [h["action"] for h in history] == ["CREATE", "DELETE"]  # one name, one artifact
    assert listed(http, project) == []


def test_a_keyed_batch_is_409_once_any_of_it_was_deleted_even_all(http, project, note):
    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(2)]}
    first, second = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers).json()[
        "occurrences"
    ]
    for deleted in (first, second):
        assert http.delete(f"/v1/{deleted['name']}").status_code == 200
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
        assert r.status_code == 409 and "deleted" in r.json()["error"]["message"], r.text
    assert listed(http, project) == []
    for name in (first["name"], second["name"]):
        assert [h["action"] for h in http.get(f"/v1/{name}:history").json()["revisions"]] == ["CREATE", "DELETE"]


def test_a_keyed_retry_after_its_first_occurrence_and_its_note_were_deleted_is_409_not_404(http, project, note):
    """The first item's id decides whether a request is a retry: with that occurrence deleted it was taken for a
    new request, whose notes were checked, and the note's deletion made it a 404 listing every item."""
    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(150)]}
    first = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert http.delete(f"/v1/{first.json()['occurrences'][0]['name']}").status_code == 200
    assert http.delete(f"/v1/{note}").status_code == 200
    again = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["status"] == "ALREADY_EXISTS", again.text
    assert "deleted" in again.json()["error"]["message"], again.text
    assert len(listed(http, project)) == 149


def test_keys_are_per_project(http, project, note):
    headers, body = key(), occurrence_body("VULNERABILITY", note)
    here = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
    there = http.post(f"/v1/projects/{project}-b/occurrences", json=body, headers=headers)
    assert here.status_code == there.status_code == 200, there.text
    assert here.json()["name"].rsplit("/", 1)[1] != there.json()["name"].rsplit("/", 1)[1]


@pytest.mark.parametrize("bad", ["", "x" * 256, "naïve", "two words"], ids=["empty", "long", "non-ascii", "space"])
def test_a_malformed_key_is_400(http, project, note, bad):
    headers = {"Idempotency-Key": bad.encode()}
    r = http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("VULNERABILITY", note), headers=headers)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    rule = "Idempotency-Key must be 1 to 255 printable ASCII characters other than space, got"
    assert message.startswith(rule), message
    assert listed(http, project) == []


def test_an_invalid_request_with_a_key_is_refused_as_without_one(http, project, note):
    body = occurrence_body("VULNERABILITY", f"projects/{project}/notes/missing")
    r = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=key())
    assert r.status_code == 404 and "missing" in r.json()["error"]["message"], r.text


def test_concurrent_twins_create_once_and_both_get_the_occurrences(base_url, project, note):
    import requests

    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(200)]}
    url = f"{base_url}/v1/projects/{project}/occurrences:batchCreate"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.post(url, json=body, headers=headers), range(4)))
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert all(r.json() == answers[0].json() for r in answers)
    listing = requests.get(f"{base_url}/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json()
    assert len(listing["occurrences"]) == 200


@pytest.mark.parametrize("big", [12345678901234567890, 1.2345678901234567e19, -1.2345678901234567e18, 2.0**63])
def test_a_document_holding_a_large_whole_double_reads_back_as_it_was_written(http, project, note, big):
    """PostgreSQL printed 1.2345678901234567e19 back as 12345678901234567000, another number: a retry was a
    409 there, and a PATCH of the same value recorded a revision. A double of 2**53 or more is a whole number,
    stored and answered as its exact digits on every database."""
    secret_note = f"projects/{project}/notes/leak"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "leak"}, json={"secret": {}}).ok
    secret = occurrence_body("SECRET", secret_note)
    secret["secret"]["data"] = {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"n": big}}
    scored = occurrence_body("VULNERABILITY", note)
    scored["vulnerability"]["risk"] = {"epss": {"score": 0.5, "percentile": big}}
    for body, path in (
        (secret, ("secret", "data", "value", "n")),
        (scored, ("vulnerability", "risk", "epss", "percentile")),
    ):
        headers = key()
        first = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
        again = http.post(f"/v1/projects/{project}/occurrences", json=body, headers=headers)
        assert first.status_code == again.status_code == 200, again.text
        assert again.json() == first.json()
        stored = http.get(f"/v1/{first.json()['name']}").json()
        assert stored == first.json()
        value = stored
        for step in path:
            value = value[step]
        assert value == int(float(big))  # the double, in exact digits
        patched = http.patch(f"/v1/{first.json()['name']}", json=body)
        assert patched.status_code == 200, patched.text
        history = http.get(f"/v1/{first.json()['name']}:history").json()["revisions"]
        assert [h["action"] for h in history] == ["CREATE"]  # the same value again is no change


def test_a_retry_after_the_note_was_deleted_answers_as_the_first_did(http, project, note):
    """Deleting a note keeps its occurrences: the retry was a 404 saying no occurrences were created."""
    headers = key()
    body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}-{i}") for i in range(3)]}
    first = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert http.delete(f"/v1/{note}").status_code == 200
    again = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(listed(http, project)) == 3
    fresh = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body, headers=key())
    assert fresh.status_code == 404 and note in fresh.json()["error"]["message"]  # a new request needs its note
