"""A deleted note's occurrences are kept, as in Grafeas; its id then comes back only as the same kind."""

from tests.factories import IMAGE, NOTE_BODIES, occurrence_body
from tests.unit.ingest.support import FIXTURES

BUILD = {"build": {"builderVersion": "1"}}


def note(http, project, note_id, kind):
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES[kind])
    assert r.status_code == 200, r.text
    return r.json()["name"]


def occurrence(http, project, kind, note_name):
    r = http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body(kind, note_name))
    assert r.status_code == 200, r.text
    return r.json()["name"]


def refused(r, status="FAILED_PRECONDITION"):
    """The error of a refused request, checked to be a 400 of `status`."""
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["status"] == status, error
    return error["message"]


def plan(http, project, notes: dict, occurrences: list):
    """Post an ingestion plan whose occurrences are (key character, body)."""
    body = {"notes": notes, "occurrences": [{"key": c * 64, "occurrence": o} for c, o in occurrences]}
    return http.post(f"/v1/projects/{project}/occurrences:ingest", params={"format": "plan"}, json=body)


def test_a_deleted_note_comes_back_only_as_the_kind_of_the_occurrences_still_naming_it(http, project):
    provider, tenants = f"{project}-prov", (f"{project}-ta", f"{project}-tb")
    cve = note(http, provider, "CVE-1", "VULNERABILITY")
    kept = [occurrence(http, tenant, "VULNERABILITY", cve) for tenant in tenants]
    assert http.delete(f"/v1/{cve}").status_code == 200

    message = refused(http.post(f"/v1/projects/{provider}/notes", params={"noteId": "CVE-1"}, json=BUILD))
    assert message == (
        f"note '{cve}' cannot be created as BUILD: VULNERABILITY occurrences still name it (kept when a note of "
        "that id was deleted), and an occurrence's kind must match its note's; delete those occurrences first, "
        "or give the note another id"
    )
    batch = {"notes": {"fresh": BUILD, "CVE-1": BUILD}}
    message = refused(http.post(f"/v1/projects/{provider}/notes:batchCreate", json=batch))
    assert message.startswith(f"no notes were created: note '{cve}' cannot be created as BUILD"), message
    assert http.get(f"/v1/{cve}").status_code == 404
    assert http.get(f"/v1/projects/{provider}/notes/fresh").status_code == 404
    for name in kept:  # still kept, still without a note
        assert http.get(f"/v1/{name}").status_code == 200
        assert http.get(f"/v1/{name}/notes").status_code == 404

    # As its own kind it comes back, and the kept occurrences are its occurrences again.
    vulnerabilities = {"notes": {"fresh": NOTE_BODIES["VULNERABILITY"], "CVE-1": NOTE_BODIES["VULNERABILITY"]}}
    assert http.post(f"/v1/projects/{provider}/notes:batchCreate", json=vulnerabilities).status_code == 200
    assert [http.get(f"/v1/{name}/notes").json()["name"] for name in kept] == [cve, cve]
    assert [o["name"] for o in http.get(f"/v1/{cve}/occurrences").json()["occurrences"]] == kept

    # Once no occurrence names it, any kind may have the id.
    assert http.delete(f"/v1/{cve}").status_code == 200
    for name in kept:
        assert http.delete(f"/v1/{name}").status_code == 200
    r = http.post(f"/v1/projects/{provider}/notes", params={"noteId": "CVE-1"}, json=BUILD)
    assert r.status_code == 200 and r.json()["kind"] == "BUILD", r.text


def test_an_ingested_note_whose_id_kept_occurrences_of_another_kind_hold_takes_its_alternative_id(http, project):
    """As with a stored note of another kind: a report is not refused over occurrences a user left behind."""
    notes = f"{project}-notes"
    old = note(http, notes, "CVE-9", "BUILD")
    occurrence(http, project, "BUILD", old)
    assert http.delete(f"/v1/{old}").status_code == 200

    vulnerability = occurrence_body("VULNERABILITY", old, IMAGE)
    r = plan(http, project, {old: NOTE_BODIES["VULNERABILITY"]}, [("a", vulnerability)])
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1 and r.json()["notesCreated"] == 1
    assert http.get(f"/v1/{old}").status_code == 404
    moved = http.get(f"/v1/{old}-vulnerability").json()
    assert moved["kind"] == "VULNERABILITY"
    listed = http.get(f"/v1/{moved['name']}/occurrences").json()["occurrences"]
    assert [o["kind"] for o in listed] == ["VULNERABILITY"]


def test_an_ingested_note_whose_id_and_alternative_kept_occurrences_hold_is_refused_whole(http, project):
    notes = f"{project}-notes"
    for note_id in ("CVE-9", "CVE-9-vulnerability"):
        old = note(http, notes, note_id, "BUILD")
        occurrence(http, project, "BUILD", old)
        assert http.delete(f"/v1/{old}").status_code == 200
    cve = f"projects/{notes}/notes/CVE-9"
    fresh = f"projects/{notes}/notes/fresh"
    items = [("a", occurrence_body("VULNERABILITY", cve, IMAGE)), ("b", occurrence_body("VULNERABILITY", fresh, IMAGE))]
    r = plan(http, project, {fresh: NOTE_BODIES["VULNERABILITY"], cve: NOTE_BODIES["VULNERABILITY"]}, items)
    message = refused(r)
    assert message.startswith(f"nothing was written: note '{cve}' cannot be created as VULNERABILITY: BUILD"), message
    assert http.get(f"/v1/{fresh}").status_code == 404
    assert http.get(f"/v1/projects/{project}/occurrences", params={"filter": 'kind="VULNERABILITY"'}).json() == {}


def test_a_rescan_recreates_a_deleted_advisory_note_under_its_own_id(http, project):
    """The advisory's note comes back where its kept occurrences are, rather than under `<id>-vulnerability`
    while they stay on a note of another kind."""
    provider = f"{project}-vulnz"
    report = (FIXTURES / "trivy" / "alpine-app-image.json").read_bytes()

    def scan():
        params = {"format": "trivy", "resourceUri": IMAGE, "noteProject": provider}
        r = http.post(f"/v1/projects/{project}/occurrences:ingest", params=params, data=report)
        assert r.status_code == 200, r.text
        return r.json()

    first = scan()
    vulnerabilities = http.get(f"/v1/projects/{project}/occurrences", params={"filter": 'kind="VULNERABILITY"'})
    advisory = vulnerabilities.json()["occurrences"][0]["noteName"]
    assert http.delete(f"/v1/{advisory}").status_code == 200
    note_id = advisory.rsplit("/", 1)[1]
    refused(http.post(f"/v1/projects/{provider}/notes", params={"noteId": note_id}, json=BUILD))

    again = scan()
    assert again["notesCreated"] == 1 and again["unchanged"] == first["created"], again
    assert http.get(f"/v1/{advisory}").json()["kind"] == "VULNERABILITY"
    assert http.get(f"/v1/{advisory}-vulnerability").status_code == 404
