"""Occurrences over HTTP: kinds, note checks, immutability, batches and the note sub-collections."""

import uuid

import pytest

from tests.factories import IMAGE, NOTE_BODIES, OCCURRENCE_DETAILS, occurrence_body

OCCURRENCE_KINDS = sorted(OCCURRENCE_DETAILS)


def make_note(http, project, kind, note_id=None):
    note_id = note_id or f"n-{kind.lower()}"
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES[kind])
    assert r.status_code == 200, r.text
    return r.json()["name"]


def create(http, project, body, status=200):
    r = http.post(f"/v1/projects/{project}/occurrences", json=body)
    assert r.status_code == status, r.text
    return r.json()


@pytest.mark.parametrize("kind", OCCURRENCE_KINDS)
def test_every_occurrence_kind_round_trips(http, project, kind):
    note = make_note(http, project, kind)
    created = create(http, project, occurrence_body(kind, note))
    occurrence_id = created["name"].rsplit("/", 1)[1]
    assert created["name"] == f"projects/{project}/occurrences/{occurrence_id}"
    assert uuid.UUID(occurrence_id).version == 7
    assert created["kind"] == kind
    assert created["noteName"] == note
    assert created["resourceUri"] == IMAGE
    for key, value in OCCURRENCE_DETAILS[kind].items():
        assert created[key] == value
    assert http.get(f"/v1/{created['name']}").json() == created


WRAPPED = "type.googleapis.com/google.protobuf."


@pytest.mark.parametrize(
    "data",
    [
        {"@type": WRAPPED + "StringValue", "value": "AIza-leaked"},
        {"@type": WRAPPED + "StringValue", "value": ""},
        {"@type": WRAPPED + "BoolValue", "value": True},
        {"@type": WRAPPED + "Int64Value", "value": "-7"},
    ],
)
def test_a_secret_holding_a_wrapper_in_an_any_round_trips(http, project, data):
    """SecretOccurrence.data is an Any; a StringValue in it was a 500."""
    note = make_note(http, project, "SECRET")
    secret = {"kind": "SECRET_KIND_GCP_API_KEY", "data": data}
    created = create(http, project, {"resourceUri": IMAGE, "noteName": note, "secret": secret})
    assert created["secret"]["data"] == data
    assert http.get(f"/v1/{created['name']}").json() == created


def test_a_string_wrapper_holding_no_string_is_a_400(http, project):
    note = make_note(http, project, "SECRET")
    secret = {"kind": "SECRET_KIND_GCP_API_KEY", "data": {"@type": WRAPPED + "StringValue", "value": 7}}
    body = {"resourceUri": IMAGE, "noteName": note, "secret": secret}
    message = create(http, project, body, 400)["error"]["message"]
    assert message.endswith("secret.data.value: expected a string, got a number")


def test_kind_is_derived_from_details_not_from_the_request(http, project):
    note = make_note(http, project, "BUILD")
    created = create(http, project, {**occurrence_body("BUILD", note), "kind": "VULNERABILITY"})
    assert created["kind"] == "BUILD"


def test_note_must_exist_and_error_names_it(http, project):
    error = create(http, project, occurrence_body("BUILD", f"projects/{project}/notes/ghost"), status=404)["error"]
    assert f"projects/{project}/notes/ghost" in error["message"]


def test_note_kind_must_match(http, project):
    note = make_note(http, project, "BUILD")
    error = create(http, project, occurrence_body("VULNERABILITY", note), status=400)["error"]
    assert "occurrence kind VULNERABILITY does not match the kind BUILD" in error["message"]


def test_note_in_another_project_can_be_attached(http, project):
    provider = f"{project}-provider"
    note = make_note(http, provider, "VULNERABILITY", "CVE-2024-3094")
    created = create(http, project, occurrence_body("VULNERABILITY", note))
    assert created["noteName"] == f"projects/{provider}/notes/CVE-2024-3094"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"noteName": "projects/p/notes/n", **OCCURRENCE_DETAILS["BUILD"]}, "resourceUri is required"),
        ({"resourceUri": IMAGE, **OCCURRENCE_DETAILS["BUILD"]}, "noteName is required"),
        ({"resourceUri": IMAGE, "noteName": "notes/n", **OCCURRENCE_DETAILS["BUILD"]}, "noteName must be in the form"),
        ({"resourceUri": IMAGE, "noteName": "projects/p/notes/n"}, "details are required"),
        ({"resourceUri": "x" * 2049, "noteName": "projects/p/notes/n", **OCCURRENCE_DETAILS["BUILD"]}, "2048"),
        # Stored so, a finding was never read by the gate, which reads no artifact as named so.
        *(
            (
                {"resourceUri": uri, "noteName": "projects/p/notes/n", **OCCURRENCE_DETAILS["BUILD"]},
                "resourceUri must not hold control characters or begin or end with a space",
            )
            for uri in (IMAGE + "\n", " " + IMAGE, IMAGE.replace("@", "\t@"), IMAGE + "\u00a0")
        ),
        ({"resourceUri": IMAGE, "noteName": "projects/p/notes/n", "build": {}}, "build requires one of"),
    ],
)
def test_invalid_occurrences_are_400(http, project, body, message):
    error = create(http, project, body, status=400)["error"]
    assert message in error["message"]
    assert http.get(f"/v1/projects/{project}/occurrences").json() == {}


def test_vulnerability_version_rules(http, project):
    note = make_note(http, project, "VULNERABILITY")
    body = occurrence_body("VULNERABILITY", note)
    issue = body["vulnerability"]["packageIssue"][0]
    issue["affectedVersion"] = {"kind": "NORMAL"}
    del issue["fixedPackage"]
    error = create(http, project, body, status=400)["error"]
    assert "vulnerability.packageIssue[0].affectedVersion.name is required" in error["message"]
    assert "vulnerability.packageIssue[0].fixedPackage is required" in error["message"]


class TestUpdate:
    def test_remediation_update_with_mask(self, http, project):
        note = make_note(http, project, "VULNERABILITY")
        created = create(http, project, occurrence_body("VULNERABILITY", note))
        r = http.patch(f"/v1/{created['name']}", params={"updateMask": "remediation"}, json={"remediation": "upgrade"})
        assert r.status_code == 200, r.text
        updated = r.json()
        assert updated["remediation"] == "upgrade"
        assert updated["vulnerability"] == created["vulnerability"]
        assert updated["createTime"] == created["createTime"]
        assert updated["updateTime"] > created["updateTime"]

    def test_without_mask_a_field_sent_empty_is_cleared(self, http, project):
        note = make_note(http, project, "VULNERABILITY")
        body = occurrence_body("VULNERABILITY", note)
        body = {**body, "remediation": "upgrade", "vulnerability": {**body["vulnerability"], "cvssScore": 7.5}}
        created = create(http, project, body)
        r = http.patch(f"/v1/{created['name']}", json={"remediation": "", "vulnerability": {"cvss_score": None}})
        assert r.status_code == 200, r.text
        assert "remediation" not in r.json() and "cvssScore" not in r.json()["vulnerability"]
        assert r.json()["vulnerability"]["packageIssue"] == created["vulnerability"]["packageIssue"]

    @pytest.mark.parametrize(
        "mask, body, message",
        [
            ("resourceUri", {"resourceUri": "https://other"}, "resourceUri is immutable"),
            ("noteName", {"noteName": "projects/x/notes/y"}, "noteName is immutable"),
            (None, {"resourceUri": "https://other"}, "resourceUri is immutable"),
            ("build", {"build": OCCURRENCE_DETAILS["BUILD"]["build"]}, "the occurrence type is immutable"),
            ("vulnerability.packageIssue", {"vulnerability": {}}, "packageIssue is required"),
            ("*", {"remediation": "x"}, "resourceUri is immutable"),
        ],
    )
    def test_bad_updates_are_400_and_change_nothing(self, http, project, mask, body, message):
        note = make_note(http, project, "VULNERABILITY")
        created = create(http, project, occurrence_body("VULNERABILITY", note))
        params = {"updateMask": mask} if mask else {}
        r = http.patch(f"/v1/{created['name']}", params=params, json=body)
        assert r.status_code == 400, r.text
        assert message in r.json()["error"]["message"]
        assert http.get(f"/v1/{created['name']}").json() == created

    def test_update_with_unchanged_immutable_fields_is_fine(self, http, project):
        note = make_note(http, project, "BUILD")
        created = create(http, project, occurrence_body("BUILD", note))
        full = {k: v for k, v in created.items() if k not in ("name", "createTime", "updateTime")}
        full["remediation"] = "none needed"
        r = http.patch(f"/v1/{created['name']}", params={"updateMask": "*"}, json=full)
        assert r.status_code == 200, r.text
        assert r.json()["remediation"] == "none needed"


class TestBatch:
    def test_batch_creates_all(self, http, project):
        note = make_note(http, project, "VULNERABILITY")
        body = {"occurrences": [occurrence_body("VULNERABILITY", note, f"{IMAGE}{i}") for i in range(10)]}
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json=body)
        assert r.status_code == 200, r.text
        created = r.json()["occurrences"]
        assert [o["resourceUri"] for o in created] == [f"{IMAGE}{i}" for i in range(10)]
        assert len({o["name"] for o in created}) == 10

    def test_batch_is_atomic_and_names_each_failed_item(self, http, project):
        note = make_note(http, project, "VULNERABILITY")
        items = [occurrence_body("VULNERABILITY", note) for _ in range(4)]
        items[1]["vulnerability"]["packageIssue"] = []
        items[3]["noteName"] = f"projects/{project}/notes/ghost"
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == 400
        message = r.json()["error"]["message"]
        assert message.startswith("no occurrences were created: occurrences[1]: ")
        assert f"occurrences[3]: note 'projects/{project}/notes/ghost'" in message
        assert http.get(f"/v1/projects/{project}/occurrences").json() == {}

    @pytest.mark.parametrize("keyed", [False, True], ids=["streamed", "idempotency-key"])
    def test_batch_error_lists_every_item_that_fails_decoding_or_validation(self, http, project, keyed):
        note = make_note(http, project, "VULNERABILITY")
        good = occurrence_body("VULNERABILITY", note)
        items = [{"resourceUri": IMAGE}, {"resourceUri": 5}, good, {**good, "bogus": 1}, "x"]
        headers = {"Idempotency-Key": f"k-{project}"} if keyed else {}
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items}, headers=headers)
        assert r.status_code == 400
        message = r.json()["error"]["message"]
        assert message.startswith("no occurrences were created: occurrences[0]: "), message
        assert "noteName is required" in message
        assert "occurrences[1]: resourceUri: expected a string, got a number" in message
        assert "occurrences[2]" not in message
        assert "occurrences[3]: unknown field 'bogus' in grafeas.v1.Occurrence" in message
        assert "occurrences[4]: expected an object for Occurrence, got a string" in message
        assert http.get(f"/v1/projects/{project}/occurrences").json() == {}

    @pytest.mark.parametrize("count", [0, 1001])
    def test_batch_size_limits(self, http, project, count):
        items = [{"resourceUri": IMAGE}] * count
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == 400
        assert "1 to 1000" in r.json()["error"]["message"]

    @pytest.mark.parametrize("fault", ["invalid", "undecodable", "missing note", "note of another kind"])
    def test_a_fault_in_the_last_item_of_a_large_batch_writes_nothing(self, http, project, fault):
        """Storage is already writing the first items of a large batch when the last is read: the
        fault must roll all of them back, and the connection must serve the next batch."""
        note = make_note(http, project, "VULNERABILITY")
        items = [occurrence_body("VULNERABILITY", note, f"{IMAGE}/{i}") for i in range(300)]
        last = items[-1]
        if fault == "invalid":
            last["vulnerability"]["packageIssue"] = []
        elif fault == "undecodable":
            last["resourceUri"] = 5
        elif fault == "missing note":
            last["noteName"] = f"projects/{project}/notes/ghost"
        else:
            last["noteName"] = make_note(http, project, "BUILD")
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == (404 if fault == "missing note" else 400), r.text
        assert "occurrences[299]" in r.json()["error"]["message"]
        assert http.get(f"/v1/projects/{project}/occurrences").json() == {}
        for _ in range(3):  # more than the pool's idle connections: each must be clean
            r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items[:-1]})
            assert r.status_code == 200, r.text
        listed = http.get(f"/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json()["occurrences"]
        assert len(listed) == 3 * 299

    def test_a_batch_error_lists_items_in_order_whether_they_failed_to_decode_or_to_validate(self, http, project):
        """Items are decoded a group at a time before they are validated: an item that does not decode, after
        one that does not validate, still comes second in the error, in the groups after the first too."""
        note = make_note(http, project, "VULNERABILITY")
        items = [occurrence_body("VULNERABILITY", note, f"{IMAGE}/{i}") for i in range(250)]
        for invalid, undecodable in ((3, 4), (150, 151)):
            items[invalid]["vulnerability"]["packageIssue"] = []
            items[undecodable]["resourceUri"] = 5
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == 400, r.text
        message = r.json()["error"]["message"]
        places = [message.index(f"occurrences[{i}]: ") for i in (3, 4, 150, 151)]
        assert places == sorted(places) and message.count("occurrences[") == 4, message
        assert http.get(f"/v1/projects/{project}/occurrences").json() == {}

    def test_a_batch_with_many_missing_notes_lists_each_after_its_first_items_were_streamed(self, http, project):
        """PostgreSQL is copying the first 50 items when the check of the notes fails: the error, some
        13 KB, must reach the caller whole, as a 404 listing each item, and the connection the next batch."""
        note = make_note(http, project, "VULNERABILITY")
        ghost = f"projects/{project}/notes/ghost"
        items = [occurrence_body("VULNERABILITY", note if i < 50 else ghost, f"{IMAGE}/{i}") for i in range(200)]
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == 404, r.text
        message = r.json()["error"]["message"]
        assert [f"occurrences[{i}]: note {ghost!r}" in message for i in range(50, 200)] == [True] * 150
        assert message.count("occurrences[") == 150
        assert http.get(f"/v1/projects/{project}/occurrences").json() == {}
        for _ in range(3):  # more than the pool's idle connections: each must be usable
            r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items[:50]})
            assert r.status_code == 200, r.text

    def test_a_batch_naming_hundreds_of_notes_in_several_projects_checks_every_one(self, http, project):
        """Notes are looked up per project, in chunks: more than one chunk of a provider's, and one's own."""
        provider = f"{project}-provider"
        cves = {f"cve-{i}": NOTE_BODIES["VULNERABILITY"] for i in range(600)}
        assert http.post(f"/v1/projects/{provider}/notes:batchCreate", json={"notes": cves}).ok
        own = make_note(http, project, "VULNERABILITY")
        items = [
            occurrence_body("VULNERABILITY", f"projects/{provider}/notes/cve-{i}", f"{IMAGE}/{i}") for i in range(600)
        ]
        items.append(occurrence_body("VULNERABILITY", own))
        batch = f"/v1/projects/{project}/occurrences:batchCreate"
        created = http.post(batch, json={"occurrences": items})
        assert created.status_code == 200, created.text
        assert [o["noteName"] for o in created.json()["occurrences"]] == [item["noteName"] for item in items]
        items[250]["noteName"] = f"projects/{provider}/notes/cve-missing"
        items[599]["noteName"] = make_note(http, provider, "BUILD")
        refused = http.post(batch, json={"occurrences": items})
        assert refused.status_code == 400, refused.text  # a missing note (404) and a wrong kind (400)
        message = refused.json()["error"]["message"]
        assert f"occurrences[250]: note 'projects/{provider}/notes/cve-missing'" in message
        wrong_kind = f"kind VULNERABILITY does not match the kind BUILD of note '{items[599]['noteName']}'"
        assert f"occurrences[599]: occurrence {wrong_kind}" in message
        assert message.count("occurrences[") == 2
        listed = http.get(f"/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json()["occurrences"]
        assert len(listed) == 601

    def test_batch_of_1000(self, http, project):
        note = make_note(http, project, "PACKAGE")
        items = [occurrence_body("PACKAGE", note, f"{IMAGE}/{i}") for i in range(1000)]
        r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
        assert r.status_code == 200
        assert len(r.json()["occurrences"]) == 1000


class TestSubCollections:
    def test_occurrence_note(self, http, project):
        note = make_note(http, project, "BUILD")
        created = create(http, project, occurrence_body("BUILD", note))
        r = http.get(f"/v1/{created['name']}/notes")
        assert r.status_code == 200
        assert r.json() == http.get(f"/v1/{note}").json()

    def test_occurrence_note_when_note_was_deleted(self, http, project):
        note = make_note(http, project, "BUILD")
        created = create(http, project, occurrence_body("BUILD", note))
        http.delete(f"/v1/{note}")
        r = http.get(f"/v1/{created['name']}/notes")
        assert r.status_code == 404
        assert note in r.json()["error"]["message"]

    def test_note_occurrences_span_every_project(self, http, project):
        note = make_note(http, project, "VULNERABILITY", "CVE-1")
        mine = create(http, project, occurrence_body("VULNERABILITY", note))
        theirs = create(http, f"{project}-tenant", occurrence_body("VULNERABILITY", note))
        r = http.get(f"/v1/{note}/occurrences")
        assert r.status_code == 200
        assert [o["name"] for o in r.json()["occurrences"]] == [mine["name"], theirs["name"]]

    def test_note_occurrences_of_missing_note_is_404(self, http, project):
        assert http.get(f"/v1/projects/{project}/notes/none/occurrences").status_code == 404

    def test_occurrence_is_scoped_to_its_project(self, http, project):
        note = make_note(http, project, "BUILD")
        created = create(http, project, occurrence_body("BUILD", note))
        occurrence_id = created["name"].rsplit("/", 1)[1]
        assert http.get(f"/v1/projects/other-{project}/occurrences/{occurrence_id}").status_code == 404
        assert http.delete(f"/v1/projects/other-{project}/occurrences/{occurrence_id}").status_code == 404
        assert http.get(f"/v1/{created['name']}").status_code == 200


def test_delete_occurrence(http, project):
    note = make_note(http, project, "BUILD")
    created = create(http, project, occurrence_body("BUILD", note))
    r = http.delete(f"/v1/{created['name']}")
    assert (r.status_code, r.json()) == (200, {})
    assert http.get(f"/v1/{created['name']}").status_code == 404
