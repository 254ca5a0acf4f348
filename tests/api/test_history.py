"""Revision history of notes and occurrences, and an artifact's timeline, over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import os
import time
import uuid

import pytest

from grafeas_py.storage import Page
from grafeas_py.wire.timestamps import from_datetime
from tests.factories import NOTE_BODIES, occurrence_body

URI = "https://gcr.io/acme/app@sha256:" + "e" * 64
DENY_FIXABLE_HIGH = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}


def note(http, project: str, note_id: str = "CVE-1", kind: str = "VULNERABILITY") -> str:
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES[kind])
    assert r.status_code == 200, r.text
    return r.json()["name"]


def occurrence(http, project: str, note_name: str, uri: str = URI) -> dict:
    r = http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("VULNERABILITY", note_name, uri))
    assert r.status_code == 200, r.text
    return r.json()


def history(http, path: str, **params) -> dict:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_occurrence_keeps_every_revision_and_a_tombstone(http, project):
    created = occurrence(http, project, note(http, project))
    name = created["name"]
    r = http.patch(
        f"/v1/{name}",
        params={"updateMask": "vulnerability.effectiveSeverity"},
        json={"vulnerability": {"effectiveSeverity": "LOW"}},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert http.delete(f"/v1/{name}").status_code == 200
    assert http.get(f"/v1/{name}").status_code == 404

    revisions = history(http, f"/v1/{name}:history")["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(1, "CREATE"), (2, "UPDATE"), (3, "DELETE")]
    assert all(r["name"] == name and r["principal"] == "anonymous" for r in revisions)
    assert revisions[0]["occurrence"] == created and revisions[0]["updateTime"] == created["createTime"]
    assert "changedFields" not in revisions[0]
    assert revisions[1]["occurrence"] == updated and revisions[1]["updateTime"] == updated["updateTime"]
    assert revisions[1]["changedFields"] == ["vulnerability.effectiveSeverity"]
    assert "occurrence" not in revisions[2] and revisions[2]["updateTime"] >= updated["updateTime"]


def test_history_answers_enums_as_numbers_when_asked_as_a_get_does(http, project):
    note_name = note(http, project)
    name = occurrence(http, project, note_name)["name"]
    as_numbers = {"$alt": "json;enum-encoding=int"}
    occurrence_now = http.get(f"/v1/{name}", params=as_numbers).json()
    assert occurrence_now["kind"] == 1  # VULNERABILITY
    [revision] = history(http, f"/v1/{name}:history", **as_numbers)["revisions"]
    assert revision["occurrence"] == occurrence_now
    assert revision["action"] == "CREATE"  # the history entry's own fields are not protobuf enums
    [note_revision] = history(http, f"/v1/{note_name}:history", **as_numbers)["revisions"]
    assert note_revision["note"] == http.get(f"/v1/{note_name}", params=as_numbers).json()
    [event] = history(http, f"/v1/projects/{project}/artifacts:history", resourceUri=URI, **as_numbers)["events"]
    assert event["occurrenceRevision"]["occurrence"] == occurrence_now
    assert history(http, f"/v1/{name}:history")["revisions"][0]["occurrence"]["kind"] == "VULNERABILITY"


def test_changed_fields_are_the_paths_whose_values_changed(http, project):
    name = note(http, project)
    http.patch(f"/v1/{name}", json={"shortDescription": "xz", "relatedUrl": [{"url": "https://x"}]})
    http.patch(f"/v1/{name}", params={"updateMask": "*"}, json={**NOTE_BODIES["VULNERABILITY"], "longDescription": "l"})
    revisions = history(http, f"/v1/{name}:history")["revisions"]
    assert [r.get("changedFields") for r in revisions] == [
        None,
        ["relatedUrl", "shortDescription"],
        ["longDescription", "relatedUrl", "shortDescription"],
    ]


def test_changed_fields_name_a_free_form_object_whose_many_values_changed(http, project):
    """A Struct holds any keys: an update of 5,000 of its values under a long key listed each of them,
    prefix and all, and wrote a 500 MB audit entry."""
    name = note(http, project, "b", "BUILD")
    key = "K" * 1000

    def provenance(value: int) -> dict:
        parameters = {key: {f"k{i}": value for i in range(5000)}, "small": {"a": value}}
        return {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": {"externalParameters": parameters}}}}

    body = {"resourceUri": URI, "noteName": name, "build": provenance(0)}
    created = http.post(f"/v1/projects/{project}/occurrences", json=body).json()["name"]
    r = http.patch(f"/v1/{created}", params={"updateMask": "build"}, json={"build": provenance(1)})
    assert r.status_code == 200, r.text[:300]
    prefix = "build.inTotoSlsaProvenanceV1.predicate.buildDefinition.externalParameters."
    changed = history(http, f"/v1/{created}:history")["revisions"][-1]["changedFields"]
    assert changed == [prefix + key, prefix + "small.a"]


def test_true_and_1_in_a_free_form_field_are_different_values(http, project):
    """Python's True == 1: changing one into the other was no change (the update dropped), and beside
    another change it went unrecorded in changedFields."""
    name = note(http, project, "b", "BUILD")

    def provenance(flag, build_type="x") -> dict:
        definition = {"buildType": build_type, "externalParameters": {"flag": flag, "n": 1.0}}
        return {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": definition}}}

    body = {"resourceUri": URI, "noteName": name, "build": provenance(True)}
    created = http.post(f"/v1/projects/{project}/occurrences", json=body).json()["name"]
    r = http.patch(f"/v1/{created}", params={"updateMask": "build"}, json={"build": provenance(1)})
    assert r.status_code == 200, r.text[:300]

    def parameters(doc: dict) -> dict:
        return doc["build"]["inTotoSlsaProvenanceV1"]["predicate"]["buildDefinition"]["externalParameters"]

    assert parameters(r.json())["flag"] == 1 and parameters(r.json())["flag"] is not True
    assert parameters(http.get(f"/v1/{created}").json())["flag"] is not True
    r = http.patch(f"/v1/{created}", params={"updateMask": "build"}, json={"build": provenance(True, "y")})
    assert r.status_code == 200, r.text[:300]
    prefix = "build.inTotoSlsaProvenanceV1.predicate.buildDefinition."
    revisions = history(http, f"/v1/{created}:history")["revisions"]
    assert [r.get("changedFields") for r in revisions] == [
        None,
        [prefix + "externalParameters.flag"],
        [prefix + "buildType", prefix + "externalParameters.flag"],
    ]
    # A number is a number, however it is spelled: 1.0 and 1 are one value.
    again = provenance(True, "y")
    again["inTotoSlsaProvenanceV1"]["predicate"]["buildDefinition"]["externalParameters"]["n"] = 1
    assert http.patch(f"/v1/{created}", params={"updateMask": "build"}, json={"build": again}).status_code == 200
    assert len(history(http, f"/v1/{created}:history")["revisions"]) == 3


@pytest.mark.parametrize("kind", ["note", "occurrence"])
def test_an_update_to_what_is_stored_writes_nothing(http, project, kind):
    note_name = note(http, project)
    name = note_name if kind == "note" else occurrence(http, project, note_name)["name"]
    field = "shortDescription" if kind == "note" else "remediation"
    set_once = http.patch(f"/v1/{name}", json={field: "same"})
    assert set_once.status_code == 200, set_once.text
    again = http.patch(f"/v1/{name}", params={"updateMask": field}, json={field: "same"})
    assert again.status_code == 200 and again.json() == set_once.json()  # the update time stays too
    assert [r["revision"] for r in history(http, f"/v1/{name}:history")["revisions"]] == [1, 2]


@pytest.mark.parametrize(
    "params, body", [({}, {"updateTime": "2020-01-01T00:00:00Z"}), ({"updateMask": "createTime"}, {})]
)
def test_an_update_of_only_output_only_fields_is_400(http, project, params, body):
    name = note(http, project)
    r = http.patch(f"/v1/{name}", params=params, json=body)
    assert r.status_code == 400 and "output-only" in r.json()["error"]["message"], r.text
    assert [r["revision"] for r in history(http, f"/v1/{name}:history")["revisions"]] == [1]


def test_a_recreated_note_continues_the_revision_numbers(http, project):
    name = note(http, project, "again", "BUILD")
    assert http.delete(f"/v1/{name}").status_code == 200
    note(http, project, "again", "BUILD")
    revisions = history(http, f"/v1/{name}:history")["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(1, "CREATE"), (2, "DELETE"), (3, "CREATE")]
    r = http.patch(f"/v1/{name}", json={"shortDescription": "third life"})
    assert r.status_code == 200
    assert history(http, f"/v1/{name}:history")["revisions"][-1]["revision"] == 4


def test_history_is_paged_oldest_first_and_sees_revisions_added_while_paging(http, project):
    name = occurrence(http, project, note(http, project))["name"]
    for i in range(4):
        http.patch(f"/v1/{name}", params={"updateMask": "remediation"}, json={"remediation": f"r{i}"})
    first = history(http, f"/v1/{name}:history", pageSize=2)
    assert [r["revision"] for r in first["revisions"]] == [1, 2]
    http.patch(f"/v1/{name}", params={"updateMask": "remediation"}, json={"remediation": "late"})
    seen, token = [r["revision"] for r in first["revisions"]], first["nextPageToken"]
    while token:
        page = history(http, f"/v1/{name}:history", pageSize=2, pageToken=token)
        seen += [r["revision"] for r in page["revisions"]]
        token = page.get("nextPageToken")
    assert seen == [1, 2, 3, 4, 5, 6]
    token = first["nextPageToken"]
    middle = len(token) // 2  # a character of the ciphertext, changed whatever it is
    altered = token[:middle] + ("B" if token[middle] == "A" else "A") + token[middle + 1 :]
    r = http.get(f"/v1/{name}:history", params={"pageToken": altered})
    assert r.status_code == 400


def test_history_of_something_that_never_existed_is_404(http, project):
    r = http.get(f"/v1/projects/{project}/occurrences/{uuid.uuid4()}:history")
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    assert "has no history: it never existed" in r.json()["error"]["message"]


def test_history_routes_win_over_gets_and_respect_encoded_colons(http, project):
    """`/occurrences/{id}:history` is the history; an id holding an encoded `%3A` stays one id."""
    created = occurrence(http, project, note(http, project))
    occurrence_id = created["name"].rsplit("/", 1)[1]
    base = f"/v1/projects/{project}"
    assert http.get(f"{base}/occurrences/{occurrence_id}").json() == created
    assert history(http, f"{base}/occurrences/{occurrence_id}:history")["revisions"][0]["occurrence"] == created
    # GetOccurrence of the id "<id>:history", which does not exist, not the history of <id>
    r = http.get(f"{base}/occurrences/{occurrence_id}%3Ahistory")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"occurrence '{base[4:]}/occurrences/{occurrence_id}:history' not found"
    r = http.get(f"{base}/occurrences/x%3Ay:history")  # the history of the id "x:y"
    assert r.status_code == 404 and f"'{base[4:]}/occurrences/x:y' has no history" in r.text
    # A note whose id ends in ":history" is reachable both ways.
    tricky = note(http, project, "n:history", "BUILD")
    assert http.get(f"{base}/notes/n%3Ahistory").json()["name"] == tricky
    assert history(http, f"{base}/notes/n%3Ahistory:history")["revisions"][0]["name"] == tricky
    r = http.get(f"{base}/notes/n:history")  # the history of note "n", which never existed
    assert r.status_code == 404 and "has no history" in r.text


def test_history_under_a_location(http, project):
    name = note(http, project, "located", "BUILD")
    revisions = history(http, f"/v1/projects/{project}/locations/us-central1/notes/located:history")["revisions"]
    assert revisions[0]["name"] == name


def test_an_artifact_timeline_has_every_kind_and_gate_decisions_in_time_order(app, http, project):
    vuln = note(http, project)
    build = note(http, project, "builder", "BUILD")
    first = occurrence(http, project, vuln)
    r = http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("BUILD", build, URI))
    second = r.json()
    occurrence(http, project, vuln, uri=URI + "-other")  # another artifact: not in this timeline
    http.patch(f"/v1/{first['name']}", params={"updateMask": "remediation"}, json={"remediation": "upgrade"})
    decision = record_decision(app, project)
    assert http.delete(f"/v1/{second['name']}").status_code == 200

    events = history(http, f"/v1/projects/{project}/artifacts:history", resourceUri=URI)["events"]
    kinds = [
        ("decision", e["decision"]["decision"])
        if "decision" in e
        else (e["occurrenceRevision"]["name"], e["occurrenceRevision"]["action"])
        for e in events
    ]
    assert kinds == [
        (first["name"], "CREATE"),
        (second["name"], "CREATE"),
        (first["name"], "UPDATE"),
        ("decision", "ALLOW"),
        (second["name"], "DELETE"),
    ]
    assert events[3]["decision"] == decision
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert events[0]["occurrenceRevision"]["occurrence"]["vulnerability"]

    pages, token = [], None
    while True:
        page = history(
            http,
            f"/v1/projects/{project}/artifacts:history",
            resourceUri=URI,
            pageSize=2,
            **({"pageToken": token} if token else {}),
        )
        pages.append(len(page["events"]))
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == [2, 2, 1]
    r = http.get(
        f"/v1/projects/{project}/artifacts:history", params={"resourceUri": URI + "-other", "pageToken": token or "x"}
    )
    assert r.status_code == 400


def test_an_artifact_timeline_has_every_spelling_of_its_uri_as_the_gate_has(http, project):
    """`https://X` and `X` (and a tag beside the digest) are one artifact to the gate, so to its timeline."""
    digest = "sha256:" + "5" * 64
    stored, asked = f"https://gcr.io/acme/sp@{digest}", f"gcr.io/acme/sp@{digest}"
    vuln = occurrence(http, project, note(http, project), uri=stored)["name"]
    occurrence(http, project, note(http, project, "CVE-2"), uri=f"https://gcr.io/acme/sp@sha256:{'6' * 64}")
    r = http.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json=DENY_FIXABLE_HIGH)
    assert r.status_code == 200, r.text
    r = http.post(f"/v1/projects/{project}/policies/prod:evaluate", json={"resourceUri": asked})
    decision = r.json()
    assert decision["decision"] == "DENY" and decision["usedOccurrences"] == [vuln], r.text

    path = f"/v1/projects/{project}/artifacts:history"
    for spelling in (stored, asked, f"https://GCR.io/acme/sp:1.0@{digest}"):
        events = history(http, path, resourceUri=spelling)["events"]
        assert [e.get("decision") or e["occurrenceRevision"]["name"] for e in events] == [vuln, decision], spelling
        served, token = [], None
        while token != "":
            page = history(http, path, resourceUri=spelling, pageSize=1, **({"pageToken": token} if token else {}))
            served += page["events"]
            token = page.get("nextPageToken", "")
        assert served == events, spelling


def test_an_artifact_timeline_has_what_is_kept_under_any_spelling(http, project):
    """Occurrences, their revisions and tombstones, and decisions stored under a spelling the timeline
    does not look up by (a tag beside the digest, http://, a host in capitals) are found by artifact key."""
    digest = "sha256:" + "7" * 64
    canonical = f"gcr.io/acme/ks@{digest}"
    tagged, plain, shouting = f"https://gcr.io/acme/ks:1.0@{digest}", f"http://{canonical}", f"GCR.IO/acme/ks@{digest}"
    kept = occurrence(http, project, note(http, project), uri=tagged)["name"]
    updated = occurrence(http, project, note(http, project, "CVE-2"), uri=plain)["name"]
    deleted = occurrence(http, project, note(http, project, "CVE-3"), uri=shouting)["name"]
    r = http.patch(f"/v1/{updated}", params={"updateMask": "remediation"}, json={"remediation": "upgrade"})
    assert r.status_code == 200, r.text
    assert http.delete(f"/v1/{deleted}").status_code == 200
    r = http.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json=DENY_FIXABLE_HIGH)
    assert r.status_code == 200, r.text
    r = http.post(f"/v1/projects/{project}/policies/prod:evaluate", json={"resourceUri": tagged})
    assert r.status_code == 200, r.text
    decision = r.json()["name"]

    path = f"/v1/projects/{project}/artifacts:history"
    expected = [(kept, "CREATE"), (updated, "CREATE"), (deleted, "CREATE"), (updated, "UPDATE")]
    expected += [(deleted, "DELETE"), ("decision", decision)]
    for spelling in (canonical, f"https://{canonical}", tagged, plain, shouting):
        served, token = [], None
        while token != "":
            page = history(http, path, resourceUri=spelling, pageSize=2, **({"pageToken": token} if token else {}))
            served += page["events"]
            token = page.get("nextPageToken", "")
        seen = [
            ("decision", e["decision"]["name"])
            if "decision" in e
            else (e["occurrenceRevision"]["name"], e["occurrenceRevision"]["action"])
            for e in served
        ]
        assert seen == expected, spelling


def test_an_untagged_image_and_its_latest_tag_share_one_timeline_as_the_gate_judges_them(http, project):
    """A runtime pulls an image named without tag or digest as `:latest`, and the gate judges both names by
    what is stored under either; the auditor's timeline of either name shows the same events."""
    untagged, latest, http_latest = "gcr.io/acme/tw", "https://gcr.io/acme/tw:latest", "http://GCR.io/acme/tw:latest"
    by_name = occurrence(http, project, note(http, project), uri=untagged)["name"]
    by_tag = occurrence(http, project, note(http, project, "CVE-2"), uri=latest)["name"]
    kept = occurrence(http, project, note(http, project, "CVE-3"), uri=http_latest)["name"]
    occurrence(http, project, note(http, project, "CVE-4"), uri="gcr.io/acme/tw:1.0")  # another image
    r = http.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json=DENY_FIXABLE_HIGH)
    assert r.status_code == 200, r.text
    r = http.post(f"/v1/projects/{project}/policies/prod:evaluate", json={"resourceUri": untagged})
    assert r.status_code == 200, r.text
    decision = r.json()
    assert sorted(decision["usedOccurrences"]) == sorted([by_name, by_tag, kept]), r.text

    path = f"/v1/projects/{project}/artifacts:history"
    for spelling in (untagged, f"https://{untagged}", latest, "gcr.io/acme/tw:latest", http_latest):
        served, token = [], None
        while token != "":
            page = history(http, path, resourceUri=spelling, pageSize=1, **({"pageToken": token} if token else {}))
            served += page["events"]
            token = page.get("nextPageToken", "")
        seen = [e["decision"]["name"] if "decision" in e else e["occurrenceRevision"]["name"] for e in served]
        assert seen == [by_name, by_tag, kept, decision["name"]], spelling


def test_an_artifact_timeline_needs_a_resource_uri(http, project):
    r = http.get(f"/v1/projects/{project}/artifacts:history")
    assert r.status_code == 400 and "resourceUri" in r.json()["error"]["message"]


def test_a_batch_create_is_revision_one_of_each(http, project):
    name = note(http, project)
    bodies = [occurrence_body("VULNERABILITY", name, f"{URI}-{i}") for i in range(3)]
    r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": bodies})
    for created in r.json()["occurrences"]:
        (only,) = history(http, f"/v1/{created['name']}:history")["revisions"]
        assert (only["revision"], only["action"], only["occurrence"]) == (1, "CREATE", created)


def record_decision(app, project: str) -> dict:
    """A gate decision as the gate records it (the gate's HTTP API lands separately)."""
    time.sleep(0.002)  # strictly after the update before it, at the database's microsecond resolution
    now = from_datetime(dt.datetime.now(dt.UTC))
    data = {
        "name": f"projects/{project}/decisions/d1",
        "policy": f"projects/{project}/policies/prod",
        "policyRevision": 1,
        "resourceUri": URI,
        "decision": "ALLOW",
        "evaluateTime": now,
    }
    return app.extensions["grafeas"].storage.record_decision(project, "d1", "prod", data)


def test_paging_a_timeline_while_its_occurrences_change_skips_and_repeats_nothing(http, project):
    """A revision keeps its place when an update or delete moves it out of the current rows."""
    name = note(http, project)
    bodies = [occurrence_body("VULNERABILITY", name, URI) for _ in range(10)]
    r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": bodies})
    created = [o["name"] for o in r.json()["occurrences"]]  # one batch: one createTime for all ten
    path = f"/v1/projects/{project}/artifacts:history"

    def walk(token=None):
        page = history(http, path, resourceUri=URI, pageSize=3, **({"pageToken": token} if token else {}))
        return [(e["occurrenceRevision"]["name"], e["occurrenceRevision"]["action"]) for e in page["events"]], page

    seen, page = walk()
    expected, touched = [(n, "CREATE") for n in created], set()
    for behind, _ in seen[:2]:
        # after each of the first two pages: one still ahead of the cursor is updated, another deleted,
        # and one already served is updated
        ahead = [n for n in created if (n, "CREATE") not in seen and n not in touched]
        for method, changed in (("PATCH", ahead[0]), ("DELETE", ahead[1]), ("PATCH", behind)):
            if method == "PATCH":
                r = http.patch(f"/v1/{changed}", params={"updateMask": "remediation"}, json={"remediation": "x"})
                expected.append((changed, "UPDATE"))
            else:
                r = http.delete(f"/v1/{changed}")
                expected.append((changed, "DELETE"))
            assert r.status_code == 200, r.text
            touched.add(changed)
        events, page = walk(page["nextPageToken"])
        seen += events
    while page.get("nextPageToken"):
        events, page = walk(page["nextPageToken"])
        seen += events
    assert sorted(seen) == sorted(expected)  # every event, each once


def test_a_timeline_page_token_from_before_its_key_changed_is_refused_clearly(app, http, project):
    """Tokens issued before 0010 carry (time, source, pk), which no longer places a page."""
    collection = f"projects/{project}/artifacts:history?resourceUri={URI}"
    old = app.extensions["grafeas"].tokens.next_token(collection, "", Page(items=[], last=(1, 1, 7), more=True))
    r = http.get(f"/v1/projects/{project}/artifacts:history", params={"resourceUri": URI, "pageToken": old})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "list again from the first page" in r.json()["error"]["message"]


def test_pages_of_big_revisions_end_early_and_the_next_pages_hold_the_rest(http, project):
    """History and timeline pages hold about as many bytes of documents as a request body may (4 MiB
    in the tests), whatever their size asks, as other lists do (tests/api/test_paging.py)."""
    name = occurrence(http, project, note(http, project))["name"]
    for _ in range(5):
        text = base64.b64encode(os.urandom((3 << 19) * 3 // 4)).decode()  # 1.5 MiB that does not compress
        r = http.patch(f"/v1/{name}", params={"updateMask": "remediation"}, json={"remediation": text})
        assert r.status_code == 200, r.text
    # Revision 1 is small, the others 1.5 MiB: the fourth takes a page past 4 MiB and ends it.
    for path, params, items in (
        (f"/v1/{name}:history", {}, "revisions"),
        (f"/v1/projects/{project}/artifacts:history", {"resourceUri": URI}, "events"),
    ):
        pages, token = [], None
        while True:
            body = history(http, path, pageSize=1000, **params, **({"pageToken": token} if token else {}))
            pages.append([item.get("occurrenceRevision", item)["revision"] for item in body[items]])
            token = body.get("nextPageToken")
            if not token:
                break
        assert pages == [[1, 2, 3, 4], [5, 6]], path
