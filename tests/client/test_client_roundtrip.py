"""Property tests: random client messages of every kind survive a round trip through the server.

A random `Note`/`Occurrence` of one kind (from `tests.strategies`) is made valid for the server's
validation (`grafeas_py.validation`) by filling in or overwriting only the fields it checks, then
created through the official client. What the create returns, and what `get_*` returns, must equal
what was sent, except for the output-only fields (name, kind, create_time, update_time).
"""

from __future__ import annotations

import itertools
import string

import pytest
from google.api_core import exceptions
from google.protobuf import json_format, text_format
from grafeas.grafeas_v1 import types
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from grafeas_py.validation import MAX_RESOURCE_URI_LENGTH, odd_resource_uri
from tests.client.compare import without
from tests.factories import DIGEST, IMAGE, NOTE_BODIES
from tests.strategies import NOTE_KINDS, OCCURRENCE_KINDS, note_messages, occurrence_messages

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OUTPUT_ONLY = ("name", "kind", "create_time", "update_time")
NotePb = types.Note.pb()
OccurrencePb = types.Occurrence.pb()
_ids = itertools.count()

# The installed client predates AI_SKILL_ANALYSIS, so strategies cannot generate it.
assert "AI_SKILL_ANALYSIS" not in NOTE_KINDS and "AI_SKILL_ANALYSIS" not in OCCURRENCE_KINDS
assert len(NOTE_KINDS) == 13 and len(OCCURRENCE_KINDS) == 12


# ---- making a random message valid ---------------------------------------------------------------
# The fixers mirror grafeas_py/validation.py on the proto3-JSON dict of the kind's member: a field
# the server requires is filled in when random data left it unset, and a field it checks the form
# of is overwritten when random data made it invalid. Everything else stays random.


def _missing(value) -> bool:
    return value is None or value == "" or value == []


def _require(obj: dict, **defaults) -> None:
    for key, value in defaults.items():
        if _missing(obj.get(key)):
            obj[key] = value


def _one_of(obj: dict, keys: tuple[str, ...], **default) -> None:
    if all(_missing(obj.get(key)) for key in keys):
        obj.update(default)


def _fix_version(obj: dict, key: str) -> None:
    version = obj.get(key)
    if version is None:
        return
    if version.get("kind") in (None, "VERSION_KIND_UNSPECIFIED"):
        version["kind"] = "NORMAL"
    if version["kind"] == "NORMAL":
        _require(version, name="1.0")


def _fix_fixed_location(obj: dict) -> None:
    if obj.get("fixedVersion", {}).get("kind") == "NORMAL":
        _require(obj, fixedCpeUri="cpe:/o:debian:debian_linux:12", fixedPackage="xz-utils")


def _fix_fingerprint(fingerprint: dict) -> None:
    _require(fingerprint, v1Name="v1", v2Blob=[DIGEST])
    fingerprint["v2Blob"] = [blob or DIGEST for blob in fingerprint["v2Blob"]]


def _fix_upgrade(upgrade: dict, version_key: str) -> None:
    _one_of(upgrade, ("package", "windowsUpdate"), package="openssl")
    _fix_version(upgrade, version_key)
    if "windowsUpdate" in upgrade:
        _require(upgrade["windowsUpdate"], identity={"updateId": "kb1"})


def _note_vulnerability(d: dict) -> None:
    _require(d, details=[{}])
    for detail in d["details"]:
        _require(detail, affectedCpeUri="cpe:/o:debian:debian_linux:12", affectedPackage="xz-utils")
        for key in ("affectedVersionStart", "affectedVersionEnd", "fixedVersion"):
            _fix_version(detail, key)
        _fix_fixed_location(detail)


def _note_image(d: dict) -> None:
    _require(d, resourceUrl="https://gcr.io/base/debian", fingerprint={})
    _fix_fingerprint(d["fingerprint"])


def _note_package(d: dict) -> None:
    _require(d, name="openssl")
    for distribution in d.get("distribution", []):
        _require(distribution, cpeUri="cpe:/o:debian:debian_linux:12")
        _fix_version(distribution, "latestVersion")


def _note_deployment(d: dict) -> None:
    _require(d, resourceUri=["https://gcr.io/acme/app"])
    d["resourceUri"] = [uri or "https://gcr.io/acme/app" for uri in d["resourceUri"]]


def _note_discovery(d: dict) -> None:
    if d.get("analysisKind") in (None, "NOTE_KIND_UNSPECIFIED"):
        d["analysisKind"] = "VULNERABILITY"


def _note_attestation(d: dict) -> None:
    if "hint" in d:
        _require(d["hint"], humanReadableName="qa-attestor")


def _note_upgrade(d: dict) -> None:
    _fix_upgrade(d, "version")
    for distribution in d.get("distributions", []):
        _require(distribution, cpeUri="cpe:/o:debian:debian_linux:12")


NOTE_FIXERS = {
    "VULNERABILITY": _note_vulnerability,
    "BUILD": lambda d: _require(d, builderVersion="gcb-2024.1"),
    "IMAGE": _note_image,
    "PACKAGE": _note_package,
    "DEPLOYMENT": _note_deployment,
    "DISCOVERY": _note_discovery,
    "ATTESTATION": _note_attestation,
    "UPGRADE": _note_upgrade,
    "DSSE_ATTESTATION": _note_attestation,
}


def _occ_vulnerability(d: dict) -> None:
    _require(d, packageIssue=[{}])
    for issue in d["packageIssue"]:
        _require(
            issue,
            affectedCpeUri="cpe:/o:debian:debian_linux:12",
            affectedPackage="xz-utils",
            affectedVersion={},
            fixedVersion={},
        )
        _fix_version(issue, "affectedVersion")
        _fix_version(issue, "fixedVersion")
        _fix_fixed_location(issue)


def _occ_build(d: dict) -> None:
    _one_of(d, ("provenance", "intotoProvenance", "intotoStatement", "inTotoSlsaProvenanceV1"), provenance={})
    provenance = d.get("provenance")
    if provenance is None:
        return
    _require(provenance, id="build-1")
    for command in provenance.get("commands", []):
        _require(command, name="docker")
    for hashes in provenance.get("sourceProvenance", {}).get("fileHashes", {}).values():
        _require(hashes, fileHash=[{}])
        for file_hash in hashes["fileHash"]:
            _require(file_hash, type="sha256", value="q6s=")


def _occ_image(d: dict) -> None:
    _require(d, fingerprint={})
    _fix_fingerprint(d["fingerprint"])
    for layer in d.get("layerInfo", []):
        _require(layer, directive="RUN")


def _occ_package(d: dict) -> None:
    _require(d, name="openssl", location=[{}])
    for location in d["location"]:
        _require(location, cpeUri="cpe:/o:debian:debian_linux:12")
        _fix_version(location, "version")


def _occ_attestation(d: dict) -> None:
    _one_of(d, ("serializedPayload", "jwts"), serializedPayload="eyJjcml0aWNhbCI6e319")
    for signature in d.get("signatures", []):
        _require(signature, signature="AAFzaWc=", publicKeyId="openpgp4fpr:ABCDEF")
    for jwt in d.get("jwts", []):
        _require(jwt, compactJwt="eyJhbGciOiJFUzI1NiJ9.e30.c2ln")


def _occ_upgrade(d: dict) -> None:
    _fix_upgrade(d, "parsedVersion")
    if "distribution" in d:
        _require(d["distribution"], cpeUri="cpe:/o:debian:debian_linux:12")


def _occ_dsse(d: dict) -> None:
    _one_of(d, ("envelope", "statement"), envelope={})
    if "envelope" in d:
        _require(d["envelope"], payload="e30=", payloadType="application/vnd.in-toto+json")


def _occ_secret(d: dict) -> None:
    if d.get("kind") in (None, "SECRET_KIND_UNSPECIFIED"):
        d["kind"] = "SECRET_KIND_GCP_API_KEY"


OCCURRENCE_FIXERS = {
    "VULNERABILITY": _occ_vulnerability,
    "BUILD": _occ_build,
    "IMAGE": _occ_image,
    "PACKAGE": _occ_package,
    "DEPLOYMENT": lambda d: _require(d, deployTime="2024-05-01T12:00:00Z"),
    "ATTESTATION": _occ_attestation,
    "UPGRADE": _occ_upgrade,
    "DSSE_ATTESTATION": _occ_dsse,
    "SBOM_REFERENCE": lambda d: _require(d, payload={}, payloadType="application/vnd.in-toto+json"),
    "SECRET": _occ_secret,
}


def _member(kind: str) -> str:
    """The JSON name of a kind's oneof member: DSSE_ATTESTATION -> dsseAttestation."""
    head, *rest = kind.lower().split("_")
    return head + "".join(part.title() for part in rest)


def _to_dict(random_pb) -> dict:
    return json_format.MessageToDict(random_pb)


def valid_note(random_pb, kind: str):
    """The random note, with the fields the server validates made valid."""
    data = _to_dict(random_pb)
    NOTE_FIXERS.get(kind, lambda d: None)(data[_member(kind)])
    return json_format.ParseDict(data, NotePb())


def valid_occurrence(random_pb, kind: str, note_name: str):
    """The random occurrence, valid and attached to `note_name` (a note of the same kind)."""
    data = _to_dict(random_pb)
    OCCURRENCE_FIXERS.get(kind, lambda d: None)(data[_member(kind)])
    data["noteName"] = note_name
    uri = data.get("resourceUri")
    if _missing(uri) or len(uri) > MAX_RESOURCE_URI_LENGTH or odd_resource_uri(uri):  # the server's rules
        data["resourceUri"] = IMAGE
    return json_format.ParseDict(data, OccurrencePb())


def test_fixers_cover_every_checked_kind():
    from grafeas_py.validation import NOTE_CHECKS, OCCURRENCE_CHECKS

    assert set(NOTE_FIXERS) == set(NOTE_CHECKS)
    assert set(OCCURRENCE_FIXERS) == set(OCCURRENCE_CHECKS)


# ---- comparing -----------------------------------------------------------------------------------


def _normalized(pb, drop) -> bytes:
    """Deterministic bytes of a copy without `drop`, Anys normalized, so that NaN equals NaN and map
    order does not matter."""
    return without(pb, drop).SerializeToString(deterministic=True)


def assert_same(got, sent, drop=OUTPUT_ONLY) -> None:
    """`got` (a proto-plus message from the client) equals the raw message `sent`, but for `drop`."""
    got = type(got).pb(got)
    if _normalized(got, drop) != _normalized(sent, drop):
        got, sent = without(got, drop), without(sent, drop)
        assert text_format.MessageToString(got) == text_format.MessageToString(sent)
        pytest.fail(f"the messages differ but print the same:\n{got}")


# ---- the properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NOTE_KINDS)
def test_random_note_round_trips(grafeas_client, project, kind):
    parent = f"projects/{project}"

    @PROPERTY
    @given(note_messages(kind))
    def check(random_note):
        sent = valid_note(random_note, kind)
        note_id = f"n{next(_ids)}"
        created = grafeas_client.create_note(parent=parent, note_id=note_id, note=types.Note(sent))
        assert created.name == f"{parent}/notes/{note_id}"
        assert created.kind.name == kind
        assert created.create_time == created.update_time
        assert_same(created, sent)
        fetched = grafeas_client.get_note(name=created.name)
        assert_same(fetched, types.Note.pb(created), drop=())

    check()


@pytest.mark.parametrize("kind", OCCURRENCE_KINDS)
def test_random_occurrence_round_trips(grafeas_client, project, kind):
    parent = f"projects/{project}"
    minimal_note = json_format.ParseDict(NOTE_BODIES[kind], NotePb())
    note = grafeas_client.create_note(parent=parent, note_id=kind.lower(), note=types.Note(minimal_note))

    @PROPERTY
    @given(occurrence_messages(kind))
    def check(random_occurrence):
        sent = valid_occurrence(random_occurrence, kind, note.name)
        created = grafeas_client.create_occurrence(parent=parent, occurrence=types.Occurrence(sent))
        assert created.name.startswith(f"{parent}/occurrences/")
        assert created.kind.name == kind
        assert created.create_time == created.update_time
        assert (created.resource_uri, created.note_name) == (sent.resource_uri, note.name)
        assert_same(created, sent)
        fetched = grafeas_client.get_occurrence(name=created.name)
        assert_same(fetched, types.Occurrence.pb(created), drop=())
        assert grafeas_client.get_occurrence_note(name=created.name) == note

    check()


# Ids are one path segment a URL can address: no "/", not "." or "..", and no U+0000 (refused:
# see test_official_client.py::test_nul_characters_are_refused_on_every_database).
NOTE_IDS = st.text(
    st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", ".."))


@pytest.mark.parametrize("binding", ["global", "location"])
def test_random_note_ids_round_trip(grafeas_client, project, binding):
    parent = f"projects/{project}" + ("/locations/us-central1" if binding == "location" else "")
    minimal = types.Note(json_format.ParseDict(NOTE_BODIES["BUILD"], NotePb()))

    @PROPERTY
    @given(st.one_of(NOTE_IDS, st.text(string.punctuation.replace("/", "") + " ", min_size=1, max_size=8)))
    def check(note_id):
        assume(note_id not in (".", ".."))  # see test_official_client.py::test_dot_segment_note_ids_are_rejected
        created = grafeas_client.create_note(parent=parent, note_id=note_id, note=minimal)
        assert created.name == f"projects/{project}/notes/{note_id}"
        assert grafeas_client.get_note(name=f"{parent}/notes/{note_id}") == created
        grafeas_client.delete_note(name=f"{parent}/notes/{note_id}")
        with pytest.raises(exceptions.NotFound):
            grafeas_client.get_note(name=created.name)

    check()
