"""The unmodified official `grafeas` client (REST transport) drives all 13 Grafeas v1 RPCs.

Every test runs under both HTTP bindings: parent `projects/{p}` and
`projects/{p}/locations/us-central1`. The server always names resources in the global form.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.protobuf import (
    any_pb2,
    field_mask_pb2,
    struct_pb2,
    text_format,
    timestamp_pb2,
)
from grafeas import grafeas_v1
from grafeas.grafeas_v1 import types
from grafeas.grafeas_v1.services.grafeas.transports.rest import GrafeasRestTransport
from werkzeug.serving import make_server

from grafeas_py import create_app
from grafeas_py.config import Settings
from tests.client.compare import without
from tests.factories import DIGEST, IMAGE

LOCATION = "us-central1"
OUTPUT_ONLY = ("name", "kind", "create_time", "update_time")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NORMAL = types.Version.VersionKind.NORMAL


@pytest.fixture(params=["global", "location"])
def parent(request, project):
    """The parent as the caller writes it: `projects/{p}` or `projects/{p}/locations/us-central1`."""
    if request.param == "global":
        return f"projects/{project}"
    return f"projects/{project}/locations/{LOCATION}"


@pytest.fixture
def client(grafeas_client):
    return grafeas_client


# ---- helpers -------------------------------------------------------------------------------------


def _without(message, fields):
    """A raw protobuf copy of a proto-plus message with the given fields cleared, Anys normalized."""
    return without(type(message).pb(message), fields)


def assert_same(got, sent) -> None:
    """`got` equals `sent` but for the output-only fields (Anys compared by content)."""
    got, sent = _without(got, OUTPUT_ONLY), _without(sent, OUTPUT_ONLY)
    if got != sent:  # a readable diff of the two
        assert text_format.MessageToString(got) == text_format.MessageToString(sent)
    assert got == sent


def assert_server_fields(resource, name: str, kind) -> None:
    assert resource.name == name
    assert resource.kind == kind
    assert resource.create_time.year >= 2024
    assert resource.update_time == resource.create_time


def vulnerability_note(description: str = "xz backdoor") -> types.Note:
    return types.Note(
        short_description=description,
        long_description="malicious code in the xz upstream tarballs",
        related_url=[types.RelatedUrl(url="https://nvd.nist.gov/vuln/detail/CVE-2024-3094", label="NVD")],
        expiration_time=timestamp_pb2.Timestamp(seconds=1893553445, nanos=123456789),
        related_note_names=["projects/elsewhere/notes/CVE-2024-0001"],
        vulnerability=types.VulnerabilityNote(
            cvss_score=9.8,
            severity=grafeas_v1.Severity.CRITICAL,
            cvss_version=grafeas_v1.CVSSVersion.CVSS_VERSION_3,
            cvss_v3=types.CVSSv3(
                base_score=10.0,
                exploitability_score=3.9,
                attack_vector=types.CVSSv3.AttackVector.ATTACK_VECTOR_NETWORK,
                scope=types.CVSSv3.Scope.SCOPE_CHANGED,
            ),
            details=[
                types.VulnerabilityNote.Detail(
                    severity_name="CRITICAL",
                    package_type="deb",
                    affected_cpe_uri="cpe:/o:debian:debian_linux:12",
                    affected_package="xz-utils",
                    affected_version_start=types.Version(name="5.6.0", revision="1", kind=NORMAL),
                    affected_version_end=types.Version(name="5.6.1", revision="1", kind=NORMAL, inclusive=True),
                    fixed_version=types.Version(epoch=1, name="5.6.1", revision="2", kind=NORMAL),
                    fixed_cpe_uri="cpe:/o:debian:debian_linux:12",
                    fixed_package="xz-utils",
                    source_update_time=dt.datetime(2024, 3, 29, 12, tzinfo=dt.UTC),
                )
            ],
        ),
    )


def build_note() -> types.Note:
    return types.Note(short_description="provenance", build=types.BuildNote(builder_version="gcb-2024.1"))


def vulnerability_occurrence(note_name: str, resource_uri: str = IMAGE) -> types.Occurrence:
    return types.Occurrence(
        resource_uri=resource_uri,
        note_name=note_name,
        remediation="upgrade xz-utils to 5.6.1-2",
        vulnerability=types.VulnerabilityOccurrence(
            type_="deb",
            severity=grafeas_v1.Severity.CRITICAL,
            effective_severity=grafeas_v1.Severity.HIGH,
            cvss_score=9.8,
            fix_available=True,
            package_issue=[
                types.VulnerabilityOccurrence.PackageIssue(
                    affected_cpe_uri="cpe:/o:debian:debian_linux:12",
                    affected_package="xz-utils",
                    affected_version=types.Version(name="5.6.0", revision="1", kind=NORMAL),
                    fixed_cpe_uri="cpe:/o:debian:debian_linux:12",
                    fixed_package="xz-utils",
                    fixed_version=types.Version(name="5.6.1", revision="2", kind=NORMAL),
                    fix_available=True,
                    package_type="deb",
                    effective_severity=grafeas_v1.Severity.HIGH,
                    file_location=[types.FileLocation(file_path="/usr/lib/x86_64-linux-gnu/liblzma.so.5")],
                )
            ],
            related_urls=[types.RelatedUrl(url="https://security-tracker.debian.org/tracker/CVE-2024-3094")],
        ),
    )


def build_occurrence(note_name: str) -> types.Occurrence:
    return types.Occurrence(
        resource_uri=IMAGE,
        note_name=note_name,
        build=types.BuildOccurrence(
            provenance=types.BuildProvenance(
                id="b-123",
                project_id="acme",
                commands=[types.Command(name="gcr.io/cloud-builders/docker", args=["build", "."])],
                built_artifacts=[types.Artifact(checksum=DIGEST, id="gcr.io/acme/app")],
                build_options={"machineType": "E2_HIGHCPU_8"},
                builder_version="gcb-2024.1",
            ),
        ),
    )


def _packed(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def create_note(client, parent, note_id, note=None) -> types.Note:
    return client.create_note(parent=parent, note_id=note_id, note=note or vulnerability_note())


def occurrence_id(occurrence: types.Occurrence) -> str:
    return occurrence.name.rsplit("/", 1)[1]


# ---- notes ---------------------------------------------------------------------------------------


def test_create_note_and_get_it_back(client, parent, project):
    sent = vulnerability_note()
    created = client.create_note(parent=parent, note_id="CVE-2024-3094", note=sent)
    assert_server_fields(created, f"projects/{project}/notes/CVE-2024-3094", grafeas_v1.NoteKind.VULNERABILITY)
    assert_same(created, sent)
    assert created.expiration_time.nanosecond == 123456789
    assert created.vulnerability.details[0].affected_version_end.inclusive is True

    assert client.get_note(name=f"{parent}/notes/CVE-2024-3094") == created
    assert client.get_note(name=created.name) == created


def test_output_only_fields_sent_by_the_client_are_ignored(client, parent, project):
    sent = build_note()
    sent.name = "projects/other/notes/other"
    sent.kind = grafeas_v1.NoteKind.VULNERABILITY
    sent.create_time = timestamp_pb2.Timestamp(seconds=978307200)
    created = create_note(client, parent, "b", sent)
    assert_server_fields(created, f"projects/{project}/notes/b", grafeas_v1.NoteKind.BUILD)
    assert created.create_time.year > 2001


def test_create_duplicate_note_is_conflict(client, parent, project):
    create_note(client, parent, "dup")
    with pytest.raises(exceptions.Conflict) as info:
        create_note(client, parent, "dup", build_note())
    assert f"projects/{project}/notes/dup" in str(info.value)
    assert info.value.code == 409
    # the first note is untouched
    assert client.get_note(name=f"{parent}/notes/dup").kind == grafeas_v1.NoteKind.VULNERABILITY


def test_create_note_without_note_id_is_bad_request(client, parent):
    with pytest.raises(exceptions.BadRequest) as info:
        client.create_note(parent=parent, note=build_note())
    assert "noteId is required" in str(info.value)


@pytest.mark.parametrize(
    "note, message",
    [
        (types.Note(), "note is invalid: type is required"),
        (types.Note(build=types.BuildNote()), "build.builderVersion is required"),
        (types.Note(vulnerability=types.VulnerabilityNote(cvss_score=1.0)), "vulnerability.details is required"),
        (
            types.Note(
                package=types.PackageNote(
                    name="openssl", distribution=[types.Distribution(latest_version=types.Version(name="1"))]
                )
            ),
            "package.distribution[0].cpeUri is required",
        ),
    ],
)
def test_create_invalid_note_is_bad_request_with_the_message(client, parent, note, message):
    with pytest.raises(exceptions.BadRequest) as info:
        client.create_note(parent=parent, note_id="bad", note=note)
    assert message in str(info.value)
    with pytest.raises(exceptions.NotFound):
        client.get_note(name=f"{parent}/notes/bad")


def test_get_missing_note_is_not_found(client, parent, project):
    with pytest.raises(exceptions.NotFound) as info:
        client.get_note(name=f"{parent}/notes/nope")
    assert f"note 'projects/{project}/notes/nope' not found" in str(info.value)


def test_note_id_with_space_and_colon(client, parent, project):
    created = create_note(client, parent, "odd id:x", build_note())
    assert created.name == f"projects/{project}/notes/odd id:x"
    assert client.get_note(name=f"{parent}/notes/odd id:x") == created
    assert [n.name for n in client.list_notes(parent=parent)] == [created.name]
    updated = client.update_note(
        name=f"{parent}/notes/odd id:x",
        note=types.Note(short_description="still odd"),
        update_mask=field_mask_pb2.FieldMask(paths=["short_description"]),
    )
    assert updated.short_description == "still odd"
    occurrence = client.create_occurrence(parent=parent, occurrence=build_occurrence(created.name))
    assert occurrence.note_name == created.name
    assert [o.name for o in client.list_note_occurrences(name=f"{parent}/notes/odd id:x")] == [occurrence.name]
    client.delete_occurrence(name=occurrence.name)
    client.delete_note(name=f"{parent}/notes/odd id:x")
    with pytest.raises(exceptions.NotFound):
        client.get_note(name=created.name)


def test_batch_create_notes(client, parent, project):
    sent = {
        "CVE-2023-44487": vulnerability_note("HTTP/2 rapid reset"),
        "CVE-2021-44228": vulnerability_note("log4shell"),
        "builder": build_note(),
    }
    response = client.batch_create_notes(parent=parent, notes=sent)
    assert isinstance(response, types.BatchCreateNotesResponse)
    by_name = {note.name: note for note in response.notes}
    assert set(by_name) == {f"projects/{project}/notes/{note_id}" for note_id in sent}
    for note_id, note in sent.items():
        got = by_name[f"projects/{project}/notes/{note_id}"]
        assert_same(got, note)
        assert got.create_time == got.update_time
        assert client.get_note(name=f"{parent}/notes/{note_id}") == got
    assert by_name[f"projects/{project}/notes/builder"].kind == grafeas_v1.NoteKind.BUILD


def test_batch_create_notes_is_atomic(client, parent, project):
    create_note(client, parent, "taken")
    with pytest.raises(exceptions.Conflict) as info:
        client.batch_create_notes(parent=parent, notes={"fresh": build_note(), "taken": build_note()})
    assert "taken" in str(info.value)
    with pytest.raises(exceptions.BadRequest) as info:
        client.batch_create_notes(parent=parent, notes={"fresh": build_note(), "bad": types.Note(build={})})
    assert "notes['bad']: note is invalid: build.builderVersion is required" in str(info.value)
    with pytest.raises(exceptions.NotFound):
        client.get_note(name=f"{parent}/notes/fresh")


def test_list_notes_pages_through_everything_exactly_once(client, parent, project):
    notes = {f"n{i}": vulnerability_note(f"note {i}") if i % 2 else build_note() for i in range(7)}
    created = client.batch_create_notes(parent=parent, notes=notes).notes
    pager = client.list_notes(request={"parent": parent, "page_size": 2})
    pages = [list(page.notes) for page in pager.pages]
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    seen = [note.name for page in pages for note in page]
    assert sorted(seen) == sorted(note.name for note in created)
    assert len(seen) == len(set(seen)) == 7
    # every listed note is the stored note, and plain iteration sees the same items
    assert sorted((n for p in pages for n in p), key=lambda n: n.name) == sorted(created, key=lambda n: n.name)
    assert [n.name for n in client.list_notes(request={"parent": parent, "page_size": 3})] == seen


def test_list_notes_of_an_empty_project(client, parent):
    pager = client.list_notes(parent=parent)
    assert list(pager) == []
    assert pager.next_page_token == ""


def test_list_notes_only_lists_the_project(client, parent, project):
    create_note(client, parent, "mine")
    create_note(client, f"projects/{project}-other", "theirs")
    assert [n.name for n in client.list_notes(parent=parent)] == [f"projects/{project}/notes/mine"]


def test_update_note_with_mask(client, parent, project):
    before = create_note(client, parent, "u")
    patch = types.Note(
        short_description="xz-utils backdoor (updated)",
        long_description="ignored: not in the mask",
        vulnerability=types.VulnerabilityNote(cvss_score=10.0, severity=grafeas_v1.Severity.HIGH),
    )
    mask = field_mask_pb2.FieldMask(paths=["short_description", "vulnerability.cvss_score"])
    updated = client.update_note(name=f"{parent}/notes/u", note=patch, update_mask=mask)

    expected = types.Note(vulnerability_note())
    expected.short_description = "xz-utils backdoor (updated)"
    expected.vulnerability.cvss_score = 10.0
    assert_same(updated, expected)
    assert updated.vulnerability.severity == grafeas_v1.Severity.CRITICAL
    assert updated.name == before.name and updated.kind == before.kind
    assert updated.create_time == before.create_time
    assert updated.update_time > before.update_time
    assert client.get_note(name=f"{parent}/notes/u") == updated


def test_update_note_without_mask_updates_the_fields_sent(client, parent):
    before = create_note(client, parent, "u")
    patch = types.Note(short_description="new", vulnerability=types.VulnerabilityNote(cvss_score=1.5))
    updated = client.update_note(name=f"{parent}/notes/u", note=patch)
    expected = types.Note(vulnerability_note())
    expected.short_description = "new"
    expected.vulnerability.cvss_score = 1.5
    assert_same(updated, expected)
    assert updated.update_time > before.update_time
    assert client.get_note(name=before.name) == updated


def test_update_note_errors(client, parent, project):
    before = create_note(client, parent, "u", build_note())
    with pytest.raises(exceptions.NotFound):
        client.update_note(name=f"{parent}/notes/none", note=types.Note(short_description="x"))
    with pytest.raises(exceptions.BadRequest) as info:
        client.update_note(
            name=f"{parent}/notes/u",
            note=types.Note(build=types.BuildNote()),
            update_mask=field_mask_pb2.FieldMask(paths=["build.builder_version"]),
        )
    assert "build.builderVersion is required" in str(info.value)
    with pytest.raises(exceptions.BadRequest) as info:
        client.update_note(
            name=f"{parent}/notes/u",
            note=types.Note(package=types.PackageNote(name="openssl")),
            update_mask=field_mask_pb2.FieldMask(paths=["build", "package"]),
        )
    assert "type is immutable" in str(info.value)
    with pytest.raises(exceptions.BadRequest) as info:
        client.update_note(
            name=f"{parent}/notes/u", note=types.Note(), update_mask=field_mask_pb2.FieldMask(paths=["nosuch"])
        )
    assert "updateMask path 'nosuch' names no field of Note" in str(info.value)
    assert client.get_note(name=before.name) == before


def test_delete_note(client, parent, project):
    create_note(client, parent, "gone")
    create_note(client, parent, "kept")
    assert client.delete_note(name=f"{parent}/notes/gone") is None
    with pytest.raises(exceptions.NotFound):
        client.get_note(name=f"projects/{project}/notes/gone")
    with pytest.raises(exceptions.NotFound):
        client.delete_note(name=f"{parent}/notes/gone")
    assert [n.name for n in client.list_notes(parent=parent)] == [f"projects/{project}/notes/kept"]


# ---- occurrences ---------------------------------------------------------------------------------


def test_create_occurrence_and_get_it_back(client, parent, project):
    note = create_note(client, parent, "CVE-2024-3094")
    sent = vulnerability_occurrence(note.name)
    created = client.create_occurrence(parent=parent, occurrence=sent)
    assert re.fullmatch(f"projects/{project}/occurrences/{UUID}", created.name), created.name
    assert_server_fields(created, created.name, grafeas_v1.NoteKind.VULNERABILITY)
    assert_same(created, sent)
    assert created.resource_uri == IMAGE and created.note_name == note.name

    assert client.get_occurrence(name=f"{parent}/occurrences/{occurrence_id(created)}") == created
    assert client.get_occurrence(name=created.name) == created


def test_a_create_retried_with_an_idempotency_key_in_the_metadata_is_written_once(client, parent, project):
    note = create_note(client, parent, "CVE-2024-6387")
    key = [("idempotency-key", f"ci-{project}-1")]
    first = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(note.name), metadata=key)
    again = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(note.name), metadata=key)
    assert again == first
    batch = [vulnerability_occurrence(note.name) for _ in range(2)]
    with pytest.raises(exceptions.Conflict) as info:  # the key went with another request
        client.batch_create_occurrences(parent=parent, occurrences=batch, metadata=key)
    assert "Idempotency-Key" in str(info.value)
    assert [o.name for o in client.list_occurrences(parent=parent)] == [first.name]


def test_occurrence_may_name_its_note_in_the_location_form(client, parent, project):
    note = create_note(client, parent, "n", build_note())
    location_name = f"projects/{project}/locations/{LOCATION}/notes/n"
    created = client.create_occurrence(parent=parent, occurrence=build_occurrence(location_name))
    assert created.note_name == note.name  # names are returned in the projects/{p}/... form
    assert [o.name for o in client.list_note_occurrences(name=note.name)] == [created.name]
    assert client.get_occurrence_note(name=created.name) == note
    # An update naming the same note in the other form changes nothing about it; another note is refused.
    created.remediation = "rebuild"
    mask = field_mask_pb2.FieldMask(paths=["note_name", "remediation"])
    created.note_name = note.name
    updated = client.update_occurrence(name=created.name, occurrence=created, update_mask=mask)
    assert (updated.note_name, updated.remediation) == (note.name, "rebuild")
    created.note_name = location_name
    assert client.update_occurrence(name=created.name, occurrence=created, update_mask=mask).note_name == note.name
    created.note_name = f"projects/{project}/notes/other"
    with pytest.raises(exceptions.BadRequest, match="noteName is immutable"):
        client.update_occurrence(name=created.name, occurrence=created, update_mask=mask)


@pytest.mark.parametrize("masked", [True, False], ids=["mask", "no-mask"])
def test_an_update_setting_another_member_of_a_nested_oneof_replaces_it(client, parent, project, masked):
    # Both members were kept, and json_format then refused the occurrence and every list holding it.
    note = create_note(client, parent, "builder", build_note())
    first = types.InTotoStatement(provenance=types.InTotoProvenance(builder_config=types.BuilderConfig(id="b1")))
    occurrence = client.create_occurrence(
        parent=parent,
        occurrence=types.Occurrence(
            resource_uri=IMAGE, note_name=note.name, build=types.BuildOccurrence(intoto_statement=first)
        ),
    )
    second = types.InTotoStatement(
        slsa_provenance=types.SlsaProvenance(builder=types.SlsaProvenance.SlsaBuilder(id="b2"))
    )
    patch = types.Occurrence(build=types.BuildOccurrence(intoto_statement=second))
    mask = field_mask_pb2.FieldMask(paths=["build.intoto_statement.slsa_provenance"]) if masked else None
    updated = client.update_occurrence(name=occurrence.name, occurrence=patch, update_mask=mask)
    statement = updated.build.intoto_statement
    assert statement.slsa_provenance.builder.id == "b2" and "provenance" not in statement
    assert client.get_occurrence(name=occurrence.name) == updated
    assert [o.name for o in client.list_occurrences(parent=parent)] == [occurrence.name]


def test_any_fields_hold_what_the_client_can_read_back(client, parent, project, http):
    from google.protobuf import duration_pb2, wrappers_pb2
    from google.rpc import error_details_pb2

    note = create_note(client, parent, "leak", types.Note(short_description="leaked keys", secret=types.SecretNote()))
    held = [
        duration_pb2.Duration(seconds=90, nanos=500_000_000),
        wrappers_pb2.Int64Value(value=-(2**63)),
        error_details_pb2.ErrorInfo(reason="LEAKED", metadata={"file": "a.env"}),
        # a proto3 `optional` field at its default is still present
        error_details_pb2.QuotaFailure(violations=[{"subject": "s", "future_quota_value": 0}]),
        types.Version.pb(types.Version(kind=types.Version.VersionKind.NORMAL, name="1.0")),
    ]
    for message in held:
        sent = types.Occurrence(
            resource_uri=IMAGE,
            note_name=note.name,
            secret=types.SecretOccurrence(kind=types.SecretKind.SECRET_KIND_GCP_API_KEY, data=_packed(message)),
        )
        created = client.create_occurrence(parent=parent, occurrence=sent)
        assert client.get_occurrence(name=created.name).secret.data == _packed(message)
    assert len(list(client.list_occurrences(parent=parent))) == len(held)
    # A type neither the server nor the client can resolve is refused, not stored unreadable.
    body = {
        "resourceUri": IMAGE,
        "noteName": note.name,
        "secret": {"kind": "SECRET_KIND_GCP_API_KEY", "data": {"@type": "type.googleapis.com/acme.Finding"}},
    }
    r = http.post(f"/v1/{parent}/occurrences", json=body)
    assert r.status_code == 400 and "unknown type 'type.googleapis.com/acme.Finding'" in r.json()["error"]["message"]


def test_create_occurrence_errors(client, parent, project):
    create_note(client, parent, "b", build_note())
    with pytest.raises(exceptions.NotFound) as info:
        client.create_occurrence(parent=parent, occurrence=build_occurrence(f"projects/{project}/notes/missing"))
    assert f"note 'projects/{project}/notes/missing' named by noteName does not exist" in str(info.value)
    with pytest.raises(exceptions.BadRequest) as info:
        client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(f"projects/{project}/notes/b"))
    assert f"occurrence kind VULNERABILITY does not match the kind BUILD of note 'projects/{project}/notes/b'" in str(
        info.value
    )
    invalid = types.Occurrence(note_name=f"projects/{project}/notes/b", build=types.BuildOccurrence())
    with pytest.raises(exceptions.BadRequest) as info:
        client.create_occurrence(parent=parent, occurrence=invalid)
    assert "resourceUri is required" in str(info.value)
    assert "build requires one of provenance" in str(info.value)
    bad_name = types.Occurrence(build_occurrence("notes/b"))
    with pytest.raises(exceptions.BadRequest) as info:
        client.create_occurrence(parent=parent, occurrence=bad_name)
    assert "noteName must be in the form" in str(info.value)
    assert list(client.list_occurrences(parent=parent)) == []


def test_get_missing_occurrence_is_not_found(client, parent, project):
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(exceptions.NotFound) as info:
        client.get_occurrence(name=f"{parent}/occurrences/{missing}")
    assert f"occurrence 'projects/{project}/occurrences/{missing}' not found" in str(info.value)
    with pytest.raises(exceptions.NotFound):
        client.get_occurrence_note(name=f"{parent}/occurrences/{missing}")


def test_batch_create_occurrences(client, parent, project):
    vuln = create_note(client, parent, "v")
    build = create_note(client, parent, "b", build_note())
    sent = [vulnerability_occurrence(vuln.name, f"{IMAGE}-{i}") for i in range(3)] + [build_occurrence(build.name)]
    response = client.batch_create_occurrences(parent=parent, occurrences=sent)
    assert isinstance(response, types.BatchCreateOccurrencesResponse)
    assert len(response.occurrences) == 4
    assert len({o.name for o in response.occurrences}) == 4
    for got, want in zip(response.occurrences, sent, strict=True):
        assert re.fullmatch(f"projects/{project}/occurrences/{UUID}", got.name)
        assert_same(got, want)
        assert client.get_occurrence(name=f"{parent}/occurrences/{occurrence_id(got)}") == got
    assert [o.kind for o in response.occurrences] == [grafeas_v1.NoteKind.VULNERABILITY] * 3 + [
        grafeas_v1.NoteKind.BUILD
    ]


def test_batch_create_occurrences_is_atomic(client, parent, project):
    vuln = create_note(client, parent, "v")
    good = vulnerability_occurrence(vuln.name)
    missing = vulnerability_occurrence(f"projects/{project}/notes/missing")
    with pytest.raises(exceptions.NotFound) as info:
        client.batch_create_occurrences(parent=parent, occurrences=[good, missing])
    assert "occurrences[1]: note" in str(info.value)
    invalid = types.Occurrence(resource_uri=IMAGE, note_name=vuln.name, vulnerability=types.VulnerabilityOccurrence())
    with pytest.raises(exceptions.BadRequest) as info:
        client.batch_create_occurrences(parent=parent, occurrences=[good, invalid])
    assert "occurrences[1]: occurrence is invalid: vulnerability.packageIssue is required" in str(info.value)
    assert list(client.list_occurrences(parent=parent)) == []


def test_list_occurrences_pages_through_everything_exactly_once(client, parent, project):
    note = create_note(client, parent, "v")
    sent = [vulnerability_occurrence(note.name, f"{IMAGE}-{i}") for i in range(5)]
    created = client.batch_create_occurrences(parent=parent, occurrences=sent).occurrences
    pager = client.list_occurrences(request={"parent": parent, "page_size": 2})
    pages = [list(page.occurrences) for page in pager.pages]
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [o.name for page in pages for o in page]
    assert len(seen) == len(set(seen)) == 5
    assert {o.name: o for p in pages for o in p} == {o.name: o for o in created}
    # another project's occurrences of the same note are not listed here
    client.create_occurrence(parent=f"projects/{project}-other", occurrence=vulnerability_occurrence(note.name))
    assert sorted(o.name for o in client.list_occurrences(request={"parent": parent, "page_size": 4})) == sorted(seen)


def test_list_note_occurrences_pages_across_projects(client, parent, project):
    note = create_note(client, parent, "v")
    other = create_note(client, parent, "w")
    mine = client.batch_create_occurrences(
        parent=parent, occurrences=[vulnerability_occurrence(note.name, f"{IMAGE}-{i}") for i in range(3)]
    ).occurrences
    theirs = client.create_occurrence(
        parent=f"projects/{project}-consumer", occurrence=vulnerability_occurrence(note.name)
    )
    client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(other.name))
    pager = client.list_note_occurrences(request={"name": f"{parent}/notes/v", "page_size": 2})
    pages = [list(page.occurrences) for page in pager.pages]
    assert [len(p) for p in pages] == [2, 2]
    got = {o.name: o for p in pages for o in p}
    assert len(got) == 4
    assert got == {o.name: o for o in [*mine, theirs]}
    assert all(o.note_name == note.name for o in got.values())


def test_list_note_occurrences_of_missing_note_is_not_found(client, parent, project):
    with pytest.raises(exceptions.NotFound) as info:
        list(client.list_note_occurrences(name=f"{parent}/notes/none"))
    assert f"note 'projects/{project}/notes/none' not found" in str(info.value)


def test_update_occurrence_with_mask(client, parent, project):
    note = create_note(client, parent, "v")
    before = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(note.name))
    name = f"{parent}/occurrences/{occurrence_id(before)}"
    patch = types.Occurrence(
        remediation="apt-get install xz-utils=5.6.1-2",
        resource_uri="ignored: not in the mask",
        vulnerability=types.VulnerabilityOccurrence(cvss_score=10.0, severity=grafeas_v1.Severity.LOW),
    )
    mask = field_mask_pb2.FieldMask(paths=["remediation", "vulnerability.cvss_score"])
    updated = client.update_occurrence(name=name, occurrence=patch, update_mask=mask)
    expected = vulnerability_occurrence(note.name)
    expected.remediation = "apt-get install xz-utils=5.6.1-2"
    expected.vulnerability.cvss_score = 10.0
    assert_same(updated, expected)
    assert (updated.name, updated.kind, updated.create_time) == (before.name, before.kind, before.create_time)
    assert updated.update_time > before.update_time
    assert client.get_occurrence(name=before.name) == updated


def test_update_occurrence_without_mask_updates_the_fields_sent(client, parent):
    note = create_note(client, parent, "v")
    before = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(note.name))
    patch = types.Occurrence(remediation="reinstall", envelope=types.Envelope(payload=b"\x00\xff", payload_type="t"))
    updated = client.update_occurrence(name=f"{parent}/occurrences/{occurrence_id(before)}", occurrence=patch)
    expected = vulnerability_occurrence(note.name)
    expected.remediation = "reinstall"
    expected.envelope = types.Envelope(payload=b"\x00\xff", payload_type="t")
    assert_same(updated, expected)
    assert client.get_occurrence(name=before.name) == updated


def test_update_occurrence_errors(client, parent, project):
    note = create_note(client, parent, "v")
    before = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(note.name))
    name = f"{parent}/occurrences/{occurrence_id(before)}"
    with pytest.raises(exceptions.NotFound):
        client.update_occurrence(
            name=f"{parent}/occurrences/00000000-0000-4000-8000-000000000000",
            occurrence=types.Occurrence(remediation="x"),
        )
    with pytest.raises(exceptions.BadRequest) as info:
        client.update_occurrence(
            name=name,
            occurrence=types.Occurrence(resource_uri="https://elsewhere"),
            update_mask=field_mask_pb2.FieldMask(paths=["resource_uri"]),
        )
    assert "resourceUri is immutable" in str(info.value)
    with pytest.raises(exceptions.BadRequest) as info:
        client.update_occurrence(
            name=name,
            occurrence=types.Occurrence(vulnerability=types.VulnerabilityOccurrence()),
            update_mask=field_mask_pb2.FieldMask(paths=["vulnerability.package_issue"]),
        )
    assert "vulnerability.packageIssue is required" in str(info.value)
    assert client.get_occurrence(name=before.name) == before


def test_delete_occurrence(client, parent, project):
    note = create_note(client, parent, "v")
    gone, kept = client.batch_create_occurrences(
        parent=parent, occurrences=[vulnerability_occurrence(note.name)] * 2
    ).occurrences
    assert client.delete_occurrence(name=f"{parent}/occurrences/{occurrence_id(gone)}") is None
    with pytest.raises(exceptions.NotFound):
        client.get_occurrence(name=gone.name)
    with pytest.raises(exceptions.NotFound):
        client.delete_occurrence(name=f"{parent}/occurrences/{occurrence_id(gone)}")
    assert [o.name for o in client.list_occurrences(parent=parent)] == [kept.name]
    assert [o.name for o in client.list_note_occurrences(name=note.name)] == [kept.name]


def test_get_occurrence_note(client, parent, project):
    note = create_note(client, parent, "CVE-2024-3094")
    occurrence = client.create_occurrence(
        parent=f"projects/{project}-consumer", occurrence=vulnerability_occurrence(note.name)
    )
    consumer = parent.replace(f"projects/{project}", f"projects/{project}-consumer", 1)
    got = client.get_occurrence_note(name=f"{consumer}/occurrences/{occurrence_id(occurrence)}")
    assert got == note
    assert got == client.get_note(name=note.name)


# ---- full round trips of richer kinds ------------------------------------------------------------


def test_intoto_statement_build_occurrence_round_trips(client, parent, project):
    note = create_note(client, parent, "slsa", build_note())
    predicate = struct_pb2.Struct()
    predicate.update({"parameters": {"target": "//app"}, "cached": True, "count": 3})
    sent = types.Occurrence(
        resource_uri=IMAGE,
        note_name=note.name,
        build=types.BuildOccurrence(
            intoto_statement=types.InTotoStatement(
                type_="https://in-toto.io/Statement/v0.1",
                subject=[types.Subject(name="gcr.io/acme/app", digest={"sha256": "ab" * 32})],
                predicate_type="https://slsa.dev/provenance/v0.1",
                provenance=types.InTotoProvenance(
                    builder_config=types.BuilderConfig(id="https://cloudbuild.googleapis.com/GoogleHostedWorker"),
                    recipe=types.Recipe(
                        type_="https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1",
                        defined_in_material=3,
                        entry_point="cloudbuild.yaml",
                    ),
                    metadata=types.Metadata(
                        build_invocation_id="b-1",
                        build_started_on=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                        completeness=types.Completeness(arguments=True, environment=False, materials=True),
                        reproducible=True,
                    ),
                    materials=["git+https://github.com/acme/app@refs/heads/main"],
                ),
            ),
        ),
    )
    sent.build.intoto_statement.provenance.recipe.environment.append(_packed(predicate))
    created = client.create_occurrence(parent=parent, occurrence=sent)
    assert_same(created, sent)
    assert created.build.intoto_statement.type_ == "https://in-toto.io/Statement/v0.1"
    assert created.build.intoto_statement.provenance.recipe.defined_in_material == 3
    fetched = client.get_occurrence(name=f"{parent}/occurrences/{occurrence_id(created)}")
    assert fetched == created


def test_dsse_attestation_occurrence_with_bytes_round_trips(client, parent, project):
    note = client.create_note(
        parent=parent,
        note_id="slsa-attestor",
        note=types.Note(
            dsse_attestation=types.DSSEAttestationNote(
                hint=types.DSSEAttestationNote.DSSEHint(human_readable_name="slsa-attestor")
            )
        ),
    )
    assert note.kind == grafeas_v1.NoteKind.DSSE_ATTESTATION
    payload = b'{"_type":"https://in-toto.io/Statement/v1"}\x00\xff\xfe'
    sent = types.Occurrence(
        resource_uri=IMAGE,
        note_name=note.name,
        dsse_attestation=types.DSSEAttestationOccurrence(
            envelope=types.Envelope(
                payload=payload,
                payload_type="application/vnd.in-toto+json",
                signatures=[
                    types.EnvelopeSignature(sig=bytes(range(256)), keyid="k1"),
                    types.EnvelopeSignature(sig=b"\xfb\xff", keyid=""),
                ],
            ),
        ),
        envelope=types.Envelope(payload=b"?>", payload_type="x"),
    )
    created = client.create_occurrence(parent=parent, occurrence=sent)
    assert created.kind == grafeas_v1.NoteKind.DSSE_ATTESTATION
    assert_same(created, sent)
    assert created.dsse_attestation.envelope.payload == payload
    assert created.dsse_attestation.envelope.signatures[0].sig == bytes(range(256))
    fetched = client.get_occurrence(name=f"{parent}/occurrences/{occurrence_id(created)}")
    assert fetched == created
    listed = list(client.list_occurrences(parent=parent))
    assert listed == [created]


def test_attestation_occurrence_with_bytes_round_trips(client, parent, project):
    note = client.create_note(
        parent=parent,
        note_id="attestor",
        note=types.Note(
            attestation=types.AttestationNote(hint=types.AttestationNote.Hint(human_readable_name="qa-attestor"))
        ),
    )
    sent = types.Occurrence(
        resource_uri=IMAGE,
        note_name=note.name,
        attestation=types.AttestationOccurrence(
            serialized_payload=b'{"critical":{}}\xff\xfe',
            signatures=[types.Signature(signature=b"\x00\x01sig", public_key_id="openpgp4fpr:ABCDEF")],
            jwts=[types.Jwt(compact_jwt="eyJhbGciOiJFUzI1NiJ9.e30.c2ln")],
        ),
    )
    created = client.batch_create_occurrences(parent=parent, occurrences=[sent]).occurrences[0]
    assert_same(created, sent)
    assert created.attestation.serialized_payload == b'{"critical":{}}\xff\xfe'
    assert client.get_occurrence(name=f"{parent}/occurrences/{occurrence_id(created)}") == created


def test_every_rpc_in_one_lifecycle(client, parent, project):
    """All 13 RPCs in order, through one binding."""
    note = client.create_note(parent=parent, note_id="life", note=build_note())
    client.batch_create_notes(parent=parent, notes={"life-2": build_note()})
    assert client.get_note(name=f"{parent}/notes/life") == note
    assert len(list(client.list_notes(parent=parent))) == 2
    client.update_note(name=f"{parent}/notes/life", note=types.Note(long_description="lived"))
    occurrence = client.create_occurrence(parent=parent, occurrence=build_occurrence(note.name))
    client.batch_create_occurrences(parent=parent, occurrences=[build_occurrence(note.name)])
    oname = f"{parent}/occurrences/{occurrence_id(occurrence)}"
    assert client.get_occurrence(name=oname) == occurrence
    assert len(list(client.list_occurrences(parent=parent))) == 2
    assert len(list(client.list_note_occurrences(name=f"{parent}/notes/life"))) == 2
    assert client.update_occurrence(name=oname, occurrence=types.Occurrence(remediation="r")).remediation == "r"
    assert client.get_occurrence_note(name=oname).long_description == "lived"
    client.delete_occurrence(name=oname)
    client.delete_note(name=f"{parent}/notes/life-2")
    assert [n.name for n in client.list_notes(parent=parent)] == [note.name]
    assert len(list(client.list_occurrences(parent=parent))) == 1


@pytest.mark.parametrize("note_id", [".", ".."])
def test_dot_segment_note_ids_are_rejected(client, parent, note_id):
    """No URL can address such a note (clients and HTTP libraries drop dot segments), so none is made."""
    with pytest.raises(exceptions.BadRequest, match="must not be '.' or '..'"):
        client.create_note(parent=parent, note_id=note_id, note=build_note())


@pytest.mark.parametrize("where", ["field", "note id"])
def test_nul_characters_are_refused_on_every_database(client, parent, where):
    """PostgreSQL cannot store U+0000 in text or JSONB, so the server refuses it everywhere alike."""
    note_id = "nul\x00id" if where == "note id" else "nul"
    sent = build_note()
    if where == "field":
        sent.short_description = "a\x00b"
    with pytest.raises(exceptions.BadRequest, match="NUL"):
        client.create_note(parent=parent, note_id=note_id, note=sent)


def test_negative_zero_reads_back_as_zero(client, parent):
    """PostgreSQL's JSONB has no -0.0: it is stored as 0.0, the default, and create and get agree."""
    sent = vulnerability_note()
    sent.vulnerability.cvss_score = -0.0
    created = client.create_note(parent=parent, note_id="neg-zero", note=sent)
    fetched = client.get_note(name=f"{parent}/notes/neg-zero")
    assert fetched == created
    assert math.copysign(1.0, fetched.vulnerability.cvss_score) == 1.0


def test_failed_write_returns_its_connection_to_the_pool(database_url, monkeypatch):
    """A write that fails inside the database layer (an injected fault) must not keep its connection,
    even while the logged error's traceback is kept alive, as log handlers do.

    Runs on a server of its own, so the shared one keeps its pool."""
    import grafeas_py.storage.sql as sql

    app = create_app(Settings(database_url=database_url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine = app.extensions["grafeas"].service.storage.engine

    def failing_insert(*_args, **_kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(sql, "_insert_many", failing_insert)
    try:
        transport = GrafeasRestTransport(
            host=f"127.0.0.1:{server.server_port}", url_scheme="http", credentials=AnonymousCredentials()
        )
        own_client = grafeas_v1.GrafeasClient(transport=transport)
        for i in range(3):
            with pytest.raises(exceptions.InternalServerError):
                own_client.create_note(parent="projects/leak", note_id=f"n{i}", note=build_note())
            assert engine.pool.checkedout() == 0, engine.pool.status()
    finally:
        server.shutdown()
        app.extensions["grafeas"].storage.dispose()  # its pool, and its audit sealer before the schemas go


def test_list_occurrences_with_the_filter_google_documents(client, parent):
    """kind="VULNERABILITY" AND resourceUrl="..." (cloud.google.com/artifact-analysis), through the client."""
    vuln = create_note(client, parent, "CVE-2024-3094", vulnerability_note())
    build = create_note(client, parent, "builder", build_note())
    other = IMAGE.replace("acme", "other")
    wanted = client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(vuln.name))
    client.create_occurrence(parent=parent, occurrence=vulnerability_occurrence(vuln.name, other))
    client.create_occurrence(parent=parent, occurrence=build_occurrence(build.name))
    found = client.list_occurrences(parent=parent, filter=f'kind="VULNERABILITY" AND resourceUrl="{IMAGE}"')
    assert [o.name for o in found] == [wanted.name]
    note_occurrences = client.list_note_occurrences(name=vuln.name, filter=f'resourceUrl="{other}"')
    assert [o.resource_uri for o in note_occurrences] == [other]
    with pytest.raises(exceptions.BadRequest, match="syntax error"):
        list(client.list_occurrences(parent=parent, filter='kind="VULNERABILITY" AND'))
