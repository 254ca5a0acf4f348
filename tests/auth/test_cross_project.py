"""The provider/tenant split of Container Analysis, over real HTTP: a provider project holds the notes,
a tenant's CI writes occurrences in its own project and attaches them to the provider's notes."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import NOTE_BODIES, occurrence_body


@pytest.fixture
def provider(secure):
    """A provider project with one vulnerability note, made by the administrator."""
    project = f"vulnz-{uuid.uuid4().hex[:8]}"
    r = secure.admin.post(
        f"/v1/projects/{project}/notes", params={"noteId": "CVE-1"}, json=NOTE_BODIES["VULNERABILITY"]
    )
    assert r.status_code == 200, r.text
    return project


@pytest.fixture
def tenant_ci(secure, provider, tenant):
    """The tenant's CI: Occurrences Editor in its project, Notes Attacher on the provider's."""
    name = f"ci-{tenant}"
    token = secure.token(name)
    secure.bind(tenant, "occurrencesEditor", f"token:{name}")
    secure.bind(provider, "notesAttacher", f"token:{name}")
    return secure.client(token)


def vulnerability(note: str, uri: str = "https://gcr.io/t/app@sha256:" + "1" * 64) -> dict:
    return occurrence_body("VULNERABILITY", note, uri)


def test_a_tenant_attaches_its_occurrences_to_the_provider_notes(tenant_ci, provider, tenant):
    note = f"projects/{provider}/notes/CVE-1"
    created = tenant_ci.post(f"/v1/projects/{tenant}/occurrences", json=vulnerability(note))
    assert created.status_code == 200, created.text
    name = created.json()["name"]
    batch = tenant_ci.post(
        f"/v1/projects/{tenant}/occurrences:batchCreate", json={"occurrences": [vulnerability(note)] * 2}
    )
    assert batch.status_code == 200 and len(batch.json()["occurrences"]) == 2
    assert tenant_ci.patch(f"/v1/{name}", params={"updateMask": "remediation"}, json={"remediation": "x"}).ok
    assert tenant_ci.get(f"/v1/{name}/notes").json()["name"] == note  # reading an occurrence reads its note
    assert tenant_ci.get(f"/v1/{note}").status_code == 200  # the attacher may read the note it attaches to
    assert tenant_ci.delete(f"/v1/{name}").status_code == 200


def test_without_attach_rights_on_the_note_project_the_write_is_denied(tenant_ci, tenant, secure):
    other = f"other-{uuid.uuid4().hex[:8]}"
    secure.admin.post(f"/v1/projects/{other}/notes", params={"noteId": "CVE-1"}, json=NOTE_BODIES["VULNERABILITY"])
    for note in (f"projects/{other}/notes/CVE-1", f"projects/{other}/notes/does-not-exist"):
        r = tenant_ci.post(f"/v1/projects/{tenant}/occurrences", json=vulnerability(note))
        assert r.status_code == 403, r.text  # the same for a note that exists and one that does not
        assert r.json()["error"]["message"] == (
            f"permission 'notes.attachOccurrence' denied on resource '{note}' (or it may not exist)"
        )


def test_a_vex_assessment_names_only_notes_its_writer_may_attach_to(tenant_ci, tenant, provider, secure):
    """The gate reads the note a finding's vexAssessment names and quotes it in its reasons: naming any
    note told a tenant whether another project's note existed, and what it assessed."""
    note, other = f"projects/{provider}/notes/CVE-1", f"other-{uuid.uuid4().hex[:8]}"
    secret = f"projects/{other}/notes/secret-vex"
    body = NOTE_BODIES["VULNERABILITY_ASSESSMENT"]
    r = secure.admin.post(f"/v1/projects/{other}/notes", params={"noteId": "secret-vex"}, json=body)
    assert r.status_code == 200, r.text
    denied = f"permission 'notes.attachOccurrence' denied on resource '{secret}' (or it may not exist)"

    def assessed(vex_note):
        body = vulnerability(note)
        body["vulnerability"]["vexAssessment"] = {"state": "NOT_AFFECTED", "noteName": vex_note}
        return body

    for ghost in (secret, f"projects/{other}/notes/does-not-exist"):
        r = tenant_ci.post(f"/v1/projects/{tenant}/occurrences", json=assessed(ghost))
        assert r.status_code == 403 and r.json()["error"]["message"] == denied.replace(secret, ghost), r.text
    r = tenant_ci.post(f"/v1/projects/{tenant}/occurrences:batchCreate", json={"occurrences": [assessed(secret)]})
    assert r.status_code == 403 and r.json()["error"]["message"] == denied
    created = tenant_ci.post(f"/v1/projects/{tenant}/occurrences", json=vulnerability(note)).json()["name"]
    vex = {"vexAssessment": {"state": "NOT_AFFECTED", "noteName": secret}}
    r = tenant_ci.patch(
        f"/v1/{created}", params={"updateMask": "vulnerability.vexAssessment"}, json={"vulnerability": vex}
    )
    assert r.status_code == 403 and r.json()["error"]["message"] == denied
    # A note it may attach to, it may name.
    assert tenant_ci.post(f"/v1/projects/{tenant}/occurrences", json=assessed(note)).status_code == 200
    # One that names the note already (written by someone who may) it may neither change nor delete.
    named = secure.admin.post(f"/v1/projects/{tenant}/occurrences", json=assessed(secret))
    assert named.status_code == 200, named.text
    state = {"vulnerability": {"vexAssessment": {"state": "AFFECTED"}}}
    r = tenant_ci.patch(
        f"/v1/{named.json()['name']}", params={"updateMask": "vulnerability.vexAssessment.state"}, json=state
    )
    assert r.status_code == 403 and r.json()["error"]["message"] == denied, r.text
    r = tenant_ci.delete(f"/v1/{named.json()['name']}")
    assert r.status_code == 403 and r.json()["error"]["message"] == denied, r.text
    assert secure.admin.get(f"/v1/{named.json()['name']}").json() == named.json()  # nothing written


def test_a_batch_names_every_note_it_may_not_attach_to(tenant_ci, tenant, provider):
    ok = f"projects/{provider}/notes/CVE-1"
    refused = [f"projects/x-{uuid.uuid4().hex[:6]}/notes/a", f"projects/y-{uuid.uuid4().hex[:6]}/notes/b"]
    items = [vulnerability(ok), vulnerability(refused[0]), vulnerability(refused[1]), vulnerability(refused[0])]
    r = tenant_ci.post(f"/v1/projects/{tenant}/occurrences:batchCreate", json={"occurrences": items})
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        f"permission 'notes.attachOccurrence' denied on resources '{refused[0]}', '{refused[1]}' "
        "(or they may not exist)"
    )
    assert "occurrences" not in tenant_ci.get(f"/v1/projects/{tenant}/occurrences").json()  # all or nothing


def test_a_large_batch_with_one_refused_note_writes_nothing(tenant_ci, tenant, provider):
    """The notes are checked after the last item is read, while the first are already being written."""
    ok, refused = f"projects/{provider}/notes/CVE-1", f"projects/z-{uuid.uuid4().hex[:6]}/notes/c"
    items = [vulnerability(ok, f"https://gcr.io/t/app{i}@sha256:" + "1" * 64) for i in range(200)]
    items.append(vulnerability(refused))
    r = tenant_ci.post(f"/v1/projects/{tenant}/occurrences:batchCreate", json={"occurrences": items})
    assert r.status_code == 403
    assert refused in r.json()["error"]["message"]
    assert "occurrences" not in tenant_ci.get(f"/v1/projects/{tenant}/occurrences").json()


def test_the_attacher_cannot_change_the_provider_project(tenant_ci, provider, tenant):
    assert tenant_ci.get(f"/v1/projects/{provider}/notes").status_code == 403
    r = tenant_ci.post(f"/v1/projects/{provider}/notes", params={"noteId": "fake"}, json=NOTE_BODIES["BUILD"])
    assert r.status_code == 403 and "notes.create" in r.text
    r = tenant_ci.post(f"/v1/projects/{provider}/occurrences", json=vulnerability(f"projects/{provider}/notes/CVE-1"))
    assert r.status_code == 403 and "occurrences.create" in r.text
    r = tenant_ci.post(
        f"/v1/projects/other-{tenant}/occurrences", json=vulnerability(f"projects/{provider}/notes/CVE-1")
    )
    assert r.status_code == 403 and f"'projects/other-{tenant}'" in r.text


def test_note_occurrences_are_listed_only_from_projects_the_caller_may_list(secure, provider):
    note = f"projects/{provider}/notes/CVE-1"
    tenants = [f"t1-{uuid.uuid4().hex[:8]}", f"t2-{uuid.uuid4().hex[:8]}"]
    for i in range(3):  # interleaved, so that filtering after paging would leave holes in pages
        for tenant in tenants:
            uri = f"https://gcr.io/{tenant}/app@sha256:" + str(i) * 64
            assert secure.admin.post(f"/v1/projects/{tenant}/occurrences", json=vulnerability(note, uri)).ok
    name = f"prov-{provider}"
    watcher = secure.client(secure.token(name))
    secure.bind(provider, "notesOccurrencesViewer", f"token:{name}")

    def pages() -> list[list[str]]:
        seen, token = [], ""
        while True:
            params = {"pageSize": 1, **({"pageToken": token} if token else {})}
            r = watcher.get(f"/v1/{note}/occurrences", params=params)
            assert r.status_code == 200, r.text
            seen.append([o["name"].split("/")[1] for o in r.json().get("occurrences", [])])
            token = r.json().get("nextPageToken")
            if not token:
                return seen

    assert pages() == [[]]  # listOccurrences on the note, but occurrences.list in no tenant project
    secure.bind(tenants[0], "occurrencesViewer", f"token:{name}")
    assert pages() == [[tenants[0]]] * 3  # full pages of the visible tenant only: filtered before paging
    assert len(secure.admin.get(f"/v1/{note}/occurrences").json()["occurrences"]) == 6


def test_an_unbound_role_stops_working_at_once(secure, tenant):
    name = f"temp-{tenant}"
    caller = secure.client(secure.token(name))
    secure.bind(tenant, "notesViewer", f"token:{name}")
    assert caller.get(f"/v1/projects/{tenant}/notes").status_code == 200
    r = secure.admin.delete(
        "/v1/admin/bindings", params={"project": tenant, "role": "notesViewer", "member": f"token:{name}"}
    )
    assert r.status_code == 200, r.text
    assert caller.get(f"/v1/projects/{tenant}/notes").status_code == 403


def test_ingesting_into_a_note_project_without_rights_tells_nothing_about_its_notes(tenant_ci, tenant, secure):
    """Whether a report's notes exist in a project is told only to callers who may attach to them."""
    from tests.unit.ingest.support import FIXTURES, IMAGE

    other = f"other-{uuid.uuid4().hex[:8]}"
    report = (FIXTURES / "trivy/alpine-app-image.json").read_bytes()
    path = f"/v1/projects/{tenant}/occurrences:ingest"
    params = {"format": "trivy", "resourceUri": IMAGE, "noteProject": other}
    before = tenant_ci.post(path, params=params, data=report)
    assert secure.admin.post(
        f"/v1/projects/{other}/occurrences:ingest", params={**params, "noteProject": other}, data=report
    ).ok  # now every note of the report exists there
    after = tenant_ci.post(path, params=params, data=report)
    assert before.status_code == after.status_code == 403
    assert before.json()["error"]["message"] == after.json()["error"]["message"]
    assert "notes.attachOccurrence" in after.json()["error"]["message"]


@pytest.mark.parametrize("plan", [False, True], ids=["report", "empty-plan"])
def test_ingesting_into_a_project_without_rights_writes_nothing_not_even_notes(secure, provider, tenant, plan):
    # The provider may create its own notes, not occurrences in the tenant: its notes were created
    # before the refusal, and an empty plan got a 200 without any check.
    from tests.unit.ingest.support import FIXTURES, IMAGE

    secure.bind(provider, "notesEditor", "token:vendor-bot")
    vendor = secure.client(secure.token("vendor-bot"))
    before = secure.admin.get(f"/v1/projects/{provider}/notes").json()["notes"]
    path = f"/v1/projects/{tenant}/occurrences:ingest"
    if plan:
        r = vendor.post(path, params={"format": "plan"}, json={})
    else:
        report = (FIXTURES / "trivy/alpine-app-image.json").read_bytes()
        r = vendor.post(path, params={"format": "trivy", "resourceUri": IMAGE, "noteProject": provider}, data=report)
    assert r.status_code == 403 and "occurrences.create" in r.json()["error"]["message"], r.text
    assert secure.admin.get(f"/v1/projects/{provider}/notes").json()["notes"] == before


def test_idempotency_keys_are_per_caller(secure, provider, tenant):
    """Two CI jobs that happen to pick the same key each get their own occurrence, not the other's."""
    note = f"projects/{provider}/notes/CVE-1"
    names = []
    for name in (f"a-{tenant}", f"b-{tenant}"):
        caller = secure.client(secure.token(name))
        secure.bind(tenant, "occurrencesEditor", f"token:{name}")
        secure.bind(provider, "notesAttacher", f"token:{name}")
        for _ in range(2):  # the second is a retry
            r = caller.post(
                f"/v1/projects/{tenant}/occurrences", json=vulnerability(note), headers={"Idempotency-Key": "nightly"}
            )
            assert r.status_code == 200, r.text
        names.append(r.json()["name"])
    assert names[0] != names[1]
    listing = secure.admin.get(f"/v1/projects/{tenant}/occurrences").json()["occurrences"]
    assert sorted(o["name"] for o in listing) == sorted(names)


# The fixed namespace idempotent ids were once UUIDv5 names in: public, so anyone could compute them.
OLD_KEYED_IDS = uuid.UUID("3296a82b-c742-4355-bd53-833fe6d1286c")


@pytest.mark.parametrize("content", ["the-victims", "another"])
def test_no_caller_can_take_the_ids_of_anothers_idempotent_request_first(secure, provider, tenant, tenant_ci, content):
    """Idempotent ids were UUIDv5 of the caller, project, key and place: a writer in the project computed a CI
    job's ids and took them first through a plan (whose ids are the client's), and the job's batch was a 409,
    or answered with the squatter's occurrences as its own."""
    note, key = f"projects/{provider}/notes/CVE-1", "ci-job-4711"
    items = [vulnerability(note, f"https://gcr.io/t/app@sha256:{i}" + "1" * 63) for i in range(3)]
    squatter = secure.client(secure.token(f"squat-{tenant}"))
    secure.bind(tenant, "occurrencesEditor", f"token:squat-{tenant}")
    secure.bind(provider, "notesAttacher", f"token:squat-{tenant}")
    victim = f"token:ci-{tenant}"
    old_ids = [uuid.uuid5(OLD_KEYED_IDS, "\n".join([victim, tenant, key, str(i)])) for i in range(len(items))]
    planted = [
        {"key": old.hex + "0" * 32, "occurrence": item if content == "the-victims" else vulnerability(note)}
        for old, item in zip(old_ids, items, strict=True)
    ]
    r = squatter.post(
        f"/v1/projects/{tenant}/occurrences:ingest", params={"format": "plan"}, json={"occurrences": planted}
    )
    assert r.status_code == 200 and r.json()["created"] == len(planted), r.text
    path, headers = f"/v1/projects/{tenant}/occurrences:batchCreate", {"Idempotency-Key": key}
    first = tenant_ci.post(path, json={"occurrences": items}, headers=headers)
    assert first.status_code == 200, first.text
    names = [o["name"].rsplit("/", 1)[1] for o in first.json()["occurrences"]]
    assert not set(names) & {str(old) for old in old_ids}  # its own occurrences, not the squatter's
    assert [uuid.UUID(n).version for n in names] == [8] * len(items)
    assert [o["resourceUri"] for o in first.json()["occurrences"]] == [i["resourceUri"] for i in items]
    again = tenant_ci.post(path, json={"occurrences": items}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json(), again.text
    listing = secure.admin.get(f"/v1/projects/{tenant}/occurrences", params={"pageSize": 100}).json()["occurrences"]
    assert len(listing) == len(planted) + len(items)
