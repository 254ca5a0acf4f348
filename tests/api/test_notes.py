"""Notes over HTTP: create, get, list, update, delete, batch, and their errors."""

import pytest

from tests.factories import NOTE_BODIES


def create(http, project, note_id, body, status=200):
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=body)
    assert r.status_code == status, r.text
    return r.json()


@pytest.mark.parametrize("kind", sorted(NOTE_BODIES))
def test_every_note_kind_is_created_and_read_back(http, project, kind):
    created = create(http, project, f"n-{kind}", NOTE_BODIES[kind])
    assert created["name"] == f"projects/{project}/notes/n-{kind}"
    assert created["kind"] == kind
    assert created["createTime"] == created["updateTime"]
    assert created["createTime"].endswith("Z")
    fetched = http.get(f"/v1/{created['name']}").json()
    assert fetched == created
    for key, value in NOTE_BODIES[kind].items():
        assert fetched[key] == value


def test_output_only_fields_in_a_request_are_ignored(http, project):
    body = {
        **NOTE_BODIES["BUILD"],
        "name": "projects/x/notes/y",
        "kind": "VULNERABILITY",
        "createTime": "2001-01-01T00:00:00Z",
    }
    created = create(http, project, "b", body)
    assert created["name"] == f"projects/{project}/notes/b"
    assert created["kind"] == "BUILD"
    assert not created["createTime"].startswith("2001")


def test_snake_case_keys_enum_numbers_and_offsets_are_accepted(http, project):
    body = {
        "short_description": "xz",
        "expiration_time": "2030-01-02T05:04:05.5+02:00",
        "vulnerability": {
            "severity": 5,
            "cvss_score": 10,
            "details": [{"affected_cpe_uri": "cpe:/a", "affected_package": "xz", "is_obsolete": False}],
        },
    }
    created = create(http, project, "CVE-2024-3094", body)
    assert created["shortDescription"] == "xz"
    assert created["expirationTime"] == "2030-01-02T03:04:05.500Z"
    assert created["vulnerability"]["severity"] == "CRITICAL"
    assert created["vulnerability"]["cvssScore"] == 10.0
    # false is the proto3 default, so it is not emitted
    assert created["vulnerability"]["details"] == [{"affectedCpeUri": "cpe:/a", "affectedPackage": "xz"}]


def test_enum_numbers_are_emitted_when_asked(http, project):
    create(http, project, "v", NOTE_BODIES["VULNERABILITY"])
    r = http.get(f"/v1/projects/{project}/notes/v", params={"$alt": "json;enum-encoding=int"})
    assert r.json()["kind"] == 1
    assert r.json()["vulnerability"]["severity"] == 5


def test_duplicate_note_is_409_already_exists(http, project):
    create(http, project, "dup", NOTE_BODIES["BUILD"])
    error = create(http, project, "dup", NOTE_BODIES["BUILD"], status=409)["error"]
    assert error["status"] == "ALREADY_EXISTS"
    assert f"projects/{project}/notes/dup" in error["message"]


@pytest.mark.parametrize(
    "note_id, message",
    [("", "noteId is required"), ("a/b", "noteId must not contain '/'"), ("x" * 256, "at most 255")],
)
def test_bad_note_ids_are_rejected(http, project, note_id, message):
    error = create(http, project, note_id, NOTE_BODIES["BUILD"], status=400)["error"]
    assert message in error["message"]
    assert error["status"] == "INVALID_ARGUMENT"


def test_missing_note_id_parameter_is_400(http, project):
    r = http.post(f"/v1/projects/{project}/notes", json=NOTE_BODIES["BUILD"])
    assert r.status_code == 400
    assert "noteId" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "note is invalid"),
        ({"build": {}}, "build.builderVersion is required"),
        ({"bogus": 1}, "unknown field 'bogus'"),
        ({"vulnerability": {"severity": "SEVERE"}}, "'SEVERE' is not a grafeas.v1.Severity"),
        ({"build": {"builderVersion": "x"}, "package": {"name": "y"}}, "only one member of oneof"),
        ({"expirationTime": "yesterday", "build": {"builderVersion": "x"}}, "expirationTime"),
        ({"vulnerability": {"cvssScore": "high"}}, "vulnerability.cvssScore"),
    ],
)
def test_invalid_notes_are_400_naming_the_problem(http, project, body, message):
    error = create(http, project, "bad", body, status=400)["error"]
    assert message in error["message"]
    assert http.get(f"/v1/projects/{project}/notes/bad").status_code == 404


def test_get_missing_note_is_404(http, project):
    r = http.get(f"/v1/projects/{project}/notes/nope")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": 404,
        "message": f"note 'projects/{project}/notes/nope' not found",
        "status": "NOT_FOUND",
        "details": [],
    }


def test_delete_answers_empty_object_then_404(http, project):
    create(http, project, "gone", NOTE_BODIES["BUILD"])
    r = http.delete(f"/v1/projects/{project}/notes/gone")
    assert (r.status_code, r.json()) == (200, {})
    assert http.get(f"/v1/projects/{project}/notes/gone").status_code == 404
    assert http.delete(f"/v1/projects/{project}/notes/gone").status_code == 404


class TestUpdate:
    def test_mask_updates_only_the_named_paths(self, http, project):
        create(
            http, project, "u", {"shortDescription": "old", "longDescription": "keep", **NOTE_BODIES["VULNERABILITY"]}
        )
        r = http.patch(
            f"/v1/projects/{project}/notes/u",
            params={"updateMask": "shortDescription,vulnerability.cvssScore"},
            json={"shortDescription": "new", "longDescription": "ignored", "vulnerability": {"cvssScore": 7.5}},
        )
        assert r.status_code == 200, r.text
        note = r.json()
        assert note["shortDescription"] == "new"
        assert note["longDescription"] == "keep"
        assert note["vulnerability"]["cvssScore"] == 7.5
        assert note["vulnerability"]["severity"] == "CRITICAL"
        assert note["updateTime"] > note["createTime"]
        assert http.get(f"/v1/projects/{project}/notes/u").json() == note

    def test_snake_case_mask_paths(self, http, project):
        create(http, project, "u", NOTE_BODIES["VULNERABILITY"])
        r = http.patch(
            f"/v1/projects/{project}/notes/u",
            params={"update_mask": "short_description"},
            json={"shortDescription": "snake"},
        )
        assert r.json()["shortDescription"] == "snake"

    def test_without_mask_the_fields_present_are_updated(self, http, project):
        create(http, project, "u", {"longDescription": "keep", **NOTE_BODIES["VULNERABILITY"]})
        r = http.patch(f"/v1/projects/{project}/notes/u", json={"vulnerability": {"cvssScore": 1.5}})
        note = r.json()
        assert note["vulnerability"]["cvssScore"] == 1.5
        assert note["vulnerability"]["severity"] == "CRITICAL"
        assert note["longDescription"] == "keep"

    @pytest.mark.parametrize(
        "cleared",
        [{"shortDescription": ""}, {"short_description": None}, {"relatedUrl": []}, {"vulnerability": {"severity": 0}}],
        ids=["empty", "null-snake-case", "empty-list", "enum-default"],
    )
    def test_without_mask_a_field_sent_at_its_default_is_cleared(self, http, project, cleared):
        # The body as sent decides, as grpc-gateway derives the mask from the JSON: its canonical
        # form leaves such fields out.
        doc = {
            "shortDescription": "sd",
            "longDescription": "ld",
            "relatedUrl": [{"url": "https://example.com"}],
            **NOTE_BODIES["VULNERABILITY"],
        }
        create(http, project, "u", doc)
        r = http.patch(f"/v1/projects/{project}/notes/u", json={**cleared, "longDescription": "new"})
        assert r.status_code == 200, r.text
        note = r.json()
        key = next(iter(cleared)).replace("short_description", "shortDescription")
        if key == "vulnerability":
            assert "severity" not in note["vulnerability"] and note["vulnerability"]["details"]
        else:
            assert key not in note
        assert note["longDescription"] == "new"
        assert http.get(f"/v1/projects/{project}/notes/u").json() == note

    def test_star_replaces_everything(self, http, project):
        create(http, project, "u", {"longDescription": "gone", **NOTE_BODIES["BUILD"]})
        r = http.patch(
            f"/v1/projects/{project}/notes/u", params={"updateMask": "*"}, json={"build": {"builderVersion": "v2"}}
        )
        assert r.status_code == 200, r.text
        assert "longDescription" not in r.json()
        assert r.json()["build"] == {"builderVersion": "v2"}

    def test_mask_naming_absent_field_clears_it(self, http, project):
        create(http, project, "u", {"shortDescription": "x", **NOTE_BODIES["BUILD"]})
        r = http.patch(f"/v1/projects/{project}/notes/u", params={"updateMask": "shortDescription"}, json={})
        assert "shortDescription" not in r.json()

    @pytest.mark.parametrize(
        "mask, body, message",
        [
            ("nosuch", {}, "updateMask path 'nosuch' names no field of Note"),
            ("build.nosuch", {}, "names no field"),
            ("relatedUrl.url", {}, "names no field"),
            ("build.builderVersion", {"build": {}}, "build.builderVersion is required"),
            ("build,package", {"package": {"name": "x"}}, "type is immutable"),
        ],
    )
    def test_bad_updates_are_400_and_change_nothing(self, http, project, mask, body, message):
        before = create(http, project, "u", NOTE_BODIES["BUILD"])
        r = http.patch(f"/v1/projects/{project}/notes/u", params={"updateMask": mask}, json=body)
        assert r.status_code == 400, r.text
        assert message in r.json()["error"]["message"]
        assert http.get(f"/v1/projects/{project}/notes/u").json() == before

    def test_update_of_missing_note_is_404(self, http, project):
        r = http.patch(f"/v1/projects/{project}/notes/none", json={"shortDescription": "x"})
        assert r.status_code == 404


class TestBatch:
    def test_batch_creates_all_and_answers_a_list(self, http, project):
        body = {"notes": {f"n{i}": NOTE_BODIES["BUILD"] for i in range(5)}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 200, r.text
        names = [n["name"] for n in r.json()["notes"]]
        assert names == [f"projects/{project}/notes/n{i}" for i in range(5)]

    def test_a_batch_of_notes_some_existing_names_the_first_of_them_in_its_own_order(self, http, project):
        for note_id in ("a", "z"):
            create(http, project, note_id, NOTE_BODIES["BUILD"])
        body = {"notes": {note_id: NOTE_BODIES["BUILD"] for note_id in ("m", "z", "a")}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 409 and f"'projects/{project}/notes/z' already exists" in r.text, r.text
        assert http.get(f"/v1/projects/{project}/notes/m").status_code == 404

    def test_batch_is_atomic_on_invalid_item(self, http, project):
        body = {"notes": {"good": NOTE_BODIES["BUILD"], "bad": {"build": {}}}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 400
        assert "notes['bad']: note is invalid: build.builderVersion is required" in r.json()["error"]["message"]
        assert http.get(f"/v1/projects/{project}/notes/good").status_code == 404

    def test_batch_error_lists_every_note_that_fails_decoding_or_validation(self, http, project):
        notes = {"a": {"build": {}}, "b": {"build": {"builderVersion": 1}}, "c": NOTE_BODIES["BUILD"], "d/e": {}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json={"notes": notes})
        assert r.status_code == 400
        message = r.json()["error"]["message"]
        assert message.startswith("no notes were created: notes['a']: note is invalid: build.builderVersion"), message
        assert "notes['b']: build.builderVersion: expected a string, got a number" in message
        assert "notes['c']" not in message and "notes['d/e']: note id must not contain '/'" in message

    def test_a_note_id_given_twice_is_refused_not_dropped(self, http, project):
        build = '{"build": {"builderVersion": "v"}}'
        for raw in (f'{{"notes": {{"d1": {build}, "d1": {build}}}}}', f'{{"notes": {{"d1": {build}}}, "notes": {{}}}}'):
            r = http.post(
                f"/v1/projects/{project}/notes:batchCreate", data=raw, headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 400 and "appears twice" in r.json()["error"]["message"], r.text
        deep = '{"notes": {"d": {"relatedUrl": [' + "[" * 1010 + "]" * 1010 + "]}}}"
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", data=deep)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == "request body is nested too deeply"
        assert http.get(f"/v1/projects/{project}/notes").json() == {}

    def test_batch_is_atomic_on_duplicate(self, http, project):
        create(http, project, "taken", NOTE_BODIES["BUILD"])
        body = {"notes": {"fresh": NOTE_BODIES["BUILD"], "taken": NOTE_BODIES["BUILD"]}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 409
        assert "taken" in r.json()["error"]["message"]
        assert http.get(f"/v1/projects/{project}/notes/fresh").status_code == 404

    @pytest.mark.parametrize("count", [0, 1001])
    def test_batch_size_limits(self, http, project, count):
        body = {"notes": {f"n{i}": NOTE_BODIES["BUILD"] for i in range(count)}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 400
        assert "1 to 1000" in r.json()["error"]["message"]

    def test_batch_of_1000_is_accepted(self, http, project):
        body = {"notes": {f"n{i}": NOTE_BODIES["BUILD"] for i in range(1000)}}
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 200
        assert len(r.json()["notes"]) == 1000

    @pytest.mark.parametrize("body", [{}, {"notes": []}, {"notes": {}, "extra": 1}])
    def test_batch_body_shape_errors(self, http, project, body):
        r = http.post(f"/v1/projects/{project}/notes:batchCreate", json=body)
        assert r.status_code == 400
        assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_an_update_from_a_stale_read_is_409_aborted_and_changes_nothing(app, http, project):
    """Two updates racing: the one that read before the other wrote loses instead of overwriting."""
    from grafeas_py.errors import Aborted

    create(http, project, "raced", NOTE_BODIES["BUILD"])
    storage = app.extensions["grafeas"].storage
    stale, revision = storage.get_note_with_revision(project, "raced")
    winner = http.patch(f"/v1/projects/{project}/notes/raced", json={"shortDescription": "first"})
    assert winner.status_code == 200
    with pytest.raises(Aborted, match="changed by another request") as lost:
        storage.update_note(project, "raced", {**stale, "shortDescription": "second"}, revision)
    assert (lost.value.http_status, lost.value.status) == (409, "ABORTED")
    assert http.get(f"/v1/projects/{project}/notes/raced").json()["shortDescription"] == "first"
