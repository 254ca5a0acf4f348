"""Tests for grafeas_py.validation: required-field rules per note and occurrence kind."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grafeas_py.validation import MAX_RESOURCE_URI_LENGTH, odd_resource_uri, validate_note, validate_occurrence
from grafeas_py.wire.grafeas_types import CODEC, NOTE, NOTE_TYPE_BY_KIND, OCCURRENCE, OCCURRENCE_DETAILS_BY_KIND

CPE = "cpe:/o:debian:debian_linux:11"
RESOURCE = "https://gcr.io/project/image@sha256:0123"
NOTE_NAME = "projects/p/notes/n"
FINGERPRINT = {"v1Name": "sha256:aaaa", "v2Blob": ["sha256:bbbb"]}
IN_TOTO = "application/vnd.in-toto+json"

VALID_NOTES = {
    "VULNERABILITY": {"vulnerability": {"details": [{"affectedCpeUri": CPE, "affectedPackage": "openssl"}]}},
    "BUILD": {"build": {"builderVersion": "1.0"}},
    "IMAGE": {"image": {"resourceUrl": "https://gcr.io/base", "fingerprint": FINGERPRINT}},
    "PACKAGE": {"package": {"name": "openssl"}},
    "DEPLOYMENT": {"deployment": {"resourceUri": [RESOURCE]}},
    "DISCOVERY": {"discovery": {"analysisKind": "VULNERABILITY"}},
    "ATTESTATION": {"attestation": {}},
    "UPGRADE": {"upgrade": {"package": "openssl"}},
    "COMPLIANCE": {"compliance": {}},
    "DSSE_ATTESTATION": {"dsseAttestation": {}},
    "VULNERABILITY_ASSESSMENT": {"vulnerabilityAssessment": {}},
    "SBOM_REFERENCE": {"sbomReference": {}},
    "SECRET": {"secret": {}},
    "AI_SKILL_ANALYSIS": {"aiSkillAnalysis": {}},
}

VALID_DETAILS = {
    "VULNERABILITY": {
        "packageIssue": [
            {
                "affectedCpeUri": CPE,
                "affectedPackage": "openssl",
                "affectedVersion": {"kind": "NORMAL", "name": "1.1.1"},
                "fixedVersion": {"kind": "MAXIMUM"},
            }
        ]
    },
    "BUILD": {"provenance": {"id": "build-1"}},
    "IMAGE": {"fingerprint": FINGERPRINT},
    "PACKAGE": {"name": "openssl", "location": [{"cpeUri": CPE}]},
    "DEPLOYMENT": {"deployTime": "2024-01-02T03:04:05Z"},
    "DISCOVERY": {},
    "ATTESTATION": {"serializedPayload": "eyJhIjoxfQ=="},
    "UPGRADE": {"package": "openssl"},
    "COMPLIANCE": {},
    "DSSE_ATTESTATION": {"envelope": {"payload": "e30=", "payloadType": IN_TOTO}},
    "SBOM_REFERENCE": {"payload": {"predicateType": "https://spdx.dev/Document"}, "payloadType": IN_TOTO},
    "SECRET": {"kind": "SECRET_KIND_GCP_API_KEY"},
    "AI_SKILL_ANALYSIS": {},
}


def note(body: dict) -> dict:
    """Canonical note from client-style JSON."""
    return CODEC.decode(NOTE, body)


def occurrence(member: str, details: dict, **top) -> dict:
    """Canonical occurrence with the given details member, a resource URI and a note name."""
    body = {"resourceUri": RESOURCE, "noteName": NOTE_NAME, member: details, **top}
    return CODEC.decode(OCCURRENCE, body)


def test_every_kind_has_a_valid_example():
    assert set(VALID_NOTES) == set(NOTE_TYPE_BY_KIND)
    assert set(VALID_DETAILS) == set(OCCURRENCE_DETAILS_BY_KIND)


@pytest.mark.parametrize("kind", sorted(VALID_NOTES))
def test_minimal_note_of_every_kind_is_valid(kind):
    assert validate_note(note(VALID_NOTES[kind])) == []


@pytest.mark.parametrize("kind", sorted(VALID_DETAILS))
def test_minimal_occurrence_of_every_kind_is_valid(kind):
    assert validate_occurrence(occurrence(OCCURRENCE_DETAILS_BY_KIND[kind], VALID_DETAILS[kind])) == []


VALID_NOTE_VARIANTS = [
    pytest.param(
        {
            "vulnerability": {
                "details": [
                    {
                        "affectedCpeUri": CPE,
                        "affectedPackage": "openssl",
                        "affectedVersionStart": {"kind": "MINIMUM"},
                        "affectedVersionEnd": {"kind": "NORMAL", "name": "1.1.1", "revision": "2"},
                        "fixedVersion": {"kind": "NORMAL", "name": "1.1.1", "revision": "3"},
                        "fixedCpeUri": CPE,
                        "fixedPackage": "openssl",
                    }
                ]
            }
        },
        id="vulnerability-full-detail",
    ),
    pytest.param(
        {
            "vulnerability": {
                "details": [{"affectedCpeUri": CPE, "affectedPackage": "p", "fixedVersion": {"kind": "MAXIMUM"}}]
            }
        },
        id="vulnerability-unfixed-needs-no-fixed-location",
    ),
    pytest.param(
        {"package": {"name": "openssl", "distribution": [{"cpeUri": CPE, "latestVersion": {"kind": "MAXIMUM"}}]}},
        id="package-distribution",
    ),
    pytest.param({"attestation": {"hint": {"humanReadableName": "prod"}}}, id="attestation-hint"),
    pytest.param({"dsseAttestation": {"hint": {"humanReadableName": "prod"}}}, id="dsse-hint"),
    pytest.param({"upgrade": {"windowsUpdate": {"identity": {"updateId": "u1"}}}}, id="upgrade-windows"),
    pytest.param(
        {"upgrade": {"package": "p", "version": {"kind": "NORMAL", "name": "2"}, "distributions": [{"cpeUri": CPE}]}},
        id="upgrade-distributions",
    ),
    pytest.param({"kind": "BUILD", "shortDescription": "x", "build": {"builderVersion": "1"}}, id="with-kind"),
]


@pytest.mark.parametrize("body", VALID_NOTE_VARIANTS)
def test_valid_note_variants(body):
    assert validate_note(note(body)) == []


INVALID_NOTES = [
    pytest.param(
        {"kind": "BUILD"},
        [
            (
                "type is required: set one of vulnerability, build, image, package, deployment, discovery, "
                "attestation, upgrade, compliance, dsseAttestation, vulnerabilityAssessment, sbomReference, secret, "
                "aiSkillAnalysis"
            )
        ],
        id="no-type",
    ),
    pytest.param({"vulnerability": {}}, ["vulnerability.details is required"], id="vulnerability-no-details"),
    pytest.param(
        {"vulnerability": {"details": [{"affectedCpeUri": CPE, "affectedPackage": "p"}, {}]}},
        ["vulnerability.details[1].affectedCpeUri is required", "vulnerability.details[1].affectedPackage is required"],
        id="vulnerability-empty-detail",
    ),
    pytest.param(
        {
            "vulnerability": {
                "details": [
                    {
                        "affectedCpeUri": CPE,
                        "affectedPackage": "p",
                        "affectedVersionStart": {"name": "1.0"},
                        "affectedVersionEnd": {"kind": "NORMAL"},
                        "fixedVersion": {"kind": "NORMAL", "name": "2.0"},
                    }
                ]
            }
        },
        [
            "vulnerability.details[0].affectedVersionStart.kind is required",
            "vulnerability.details[0].affectedVersionEnd.name is required when kind is NORMAL",
            "vulnerability.details[0].fixedCpeUri is required when fixedVersion.kind is NORMAL",
            "vulnerability.details[0].fixedPackage is required when fixedVersion.kind is NORMAL",
        ],
        id="vulnerability-bad-versions",
    ),
    pytest.param(
        {"vulnerability": {"details": [{"affectedCpeUri": CPE, "affectedPackage": "p", "fixedVersion": {}}]}},
        ["vulnerability.details[0].fixedVersion.kind is required"],
        id="vulnerability-empty-fixed-version",
    ),
    pytest.param({"build": {}}, ["build.builderVersion is required"], id="build-no-builder-version"),
    pytest.param({"image": {}}, ["image.resourceUrl is required", "image.fingerprint is required"], id="image-empty"),
    pytest.param(
        {"image": {"resourceUrl": "https://gcr.io/base", "fingerprint": {}}},
        ["image.fingerprint.v1Name is required", "image.fingerprint.v2Blob is required"],
        id="image-empty-fingerprint",
    ),
    pytest.param(
        {"image": {"resourceUrl": "u", "fingerprint": {"v1Name": "a", "v2Blob": ["b", ""]}}},
        ["image.fingerprint.v2Blob[1] must not be empty"],
        id="image-empty-blob",
    ),
    pytest.param({"package": {}}, ["package.name is required"], id="package-no-name"),
    pytest.param(
        {"package": {"name": "p", "distribution": [{"cpeUri": CPE}, {"latestVersion": {"kind": "NORMAL"}}]}},
        [
            "package.distribution[1].cpeUri is required",
            "package.distribution[1].latestVersion.name is required when kind is NORMAL",
        ],
        id="package-bad-distribution",
    ),
    pytest.param({"deployment": {}}, ["deployment.resourceUri is required"], id="deployment-no-resource"),
    pytest.param(
        {"deployment": {"resourceUri": ["", RESOURCE]}},
        ["deployment.resourceUri[0] must not be empty"],
        id="deployment-empty-resource",
    ),
    pytest.param({"discovery": {}}, ["discovery.analysisKind is required"], id="discovery-no-kind"),
    pytest.param(
        {"discovery": {"analysisKind": "NOTE_KIND_UNSPECIFIED"}},
        ["discovery.analysisKind is required"],
        id="discovery-unspecified-kind",
    ),
    pytest.param({"attestation": {"hint": {}}}, ["attestation.hint.humanReadableName is required"], id="attn-hint"),
    pytest.param(
        {"dsseAttestation": {"hint": {}}}, ["dsseAttestation.hint.humanReadableName is required"], id="dsse-hint"
    ),
    pytest.param({"upgrade": {}}, ["upgrade requires one of package, windowsUpdate"], id="upgrade-empty"),
    pytest.param(
        {"upgrade": {"package": "p", "version": {}, "distributions": [{}], "windowsUpdate": {}}},
        [
            "upgrade.version.kind is required",
            "upgrade.distributions[0].cpeUri is required",
            "upgrade.windowsUpdate.identity is required",
        ],
        id="upgrade-incomplete-parts",
    ),
]


@pytest.mark.parametrize(("body", "problems"), INVALID_NOTES)
def test_invalid_notes(body, problems):
    assert validate_note(note(body)) == problems


def test_note_with_two_type_members_is_rejected():
    both = {"build": {"builderVersion": "1"}, "image": {"resourceUrl": "u", "fingerprint": {"v1Name": "a"}}}
    assert validate_note(both) == ["only one of build, image may be set"]


VALID_OCCURRENCE_VARIANTS = [
    pytest.param(
        "vulnerability",
        {
            "severity": "HIGH",
            "packageIssue": [
                {
                    "affectedCpeUri": CPE,
                    "affectedPackage": "openssl",
                    "affectedVersion": {"kind": "NORMAL", "name": "1.1.1"},
                    "fixedVersion": {"kind": "NORMAL", "name": "1.1.2"},
                    "fixedCpeUri": CPE,
                    "fixedPackage": "openssl",
                }
            ],
        },
        id="vulnerability-fixed",
    ),
    pytest.param("build", {"intotoProvenance": {}}, id="build-intoto-provenance"),
    pytest.param("build", {"intotoStatement": {"predicateType": "x"}}, id="build-intoto-statement"),
    pytest.param("build", {"inTotoSlsaProvenanceV1": {}}, id="build-slsa-v1"),
    pytest.param(
        "build",
        {
            "provenance": {
                "id": "b",
                "commands": [{"name": "docker"}],
                "builtArtifacts": [{}],
                "sourceProvenance": {"fileHashes": {"a.c": {"fileHash": [{"type": "SHA256", "value": "AAEC"}]}}},
            }
        },
        id="build-full-provenance",
    ),
    pytest.param("image", {"fingerprint": FINGERPRINT, "layerInfo": [{"directive": "RUN"}]}, id="image-layers"),
    pytest.param(
        "package",
        {"name": "p", "location": [{"cpeUri": CPE, "version": {"kind": "NORMAL", "name": "1"}, "path": "/x"}]},
        id="package-located-version",
    ),
    pytest.param("attestation", {"jwts": [{"compactJwt": "a.b.c"}]}, id="attestation-jwt"),
    pytest.param(
        "attestation",
        {"serializedPayload": "e30=", "signatures": [{"signature": "AAE=", "publicKeyId": "openpgp4fpr:74FA"}]},
        id="attestation-signed",
    ),
    pytest.param("upgrade", {"windowsUpdate": {"identity": {"updateId": "u"}}}, id="upgrade-windows"),
    pytest.param(
        "upgrade",
        {"package": "p", "parsedVersion": {"kind": "NORMAL", "name": "2"}, "distribution": {"cpeUri": CPE}},
        id="upgrade-distribution",
    ),
    pytest.param("dsseAttestation", {"statement": {"predicateType": "x"}}, id="dsse-statement"),
]


@pytest.mark.parametrize(("member", "details"), VALID_OCCURRENCE_VARIANTS)
def test_valid_occurrence_variants(member, details):
    assert validate_occurrence(occurrence(member, details)) == []


INVALID_OCCURRENCES = [
    pytest.param("vulnerability", {}, ["vulnerability.packageIssue is required"], id="vulnerability-no-issues"),
    pytest.param(
        "vulnerability",
        {"packageIssue": [{}]},
        [
            "vulnerability.packageIssue[0].affectedCpeUri is required",
            "vulnerability.packageIssue[0].affectedPackage is required",
            "vulnerability.packageIssue[0].affectedVersion is required",
            "vulnerability.packageIssue[0].fixedVersion is required",
        ],
        id="vulnerability-empty-issue",
    ),
    pytest.param(
        "vulnerability",
        {
            "packageIssue": [
                VALID_DETAILS["VULNERABILITY"]["packageIssue"][0],
                {
                    "affectedCpeUri": CPE,
                    "affectedPackage": "p",
                    "affectedVersion": {"kind": "NORMAL"},
                    "fixedVersion": {"kind": "NORMAL", "name": "2"},
                },
            ]
        },
        [
            "vulnerability.packageIssue[1].affectedVersion.name is required when kind is NORMAL",
            "vulnerability.packageIssue[1].fixedCpeUri is required when fixedVersion.kind is NORMAL",
            "vulnerability.packageIssue[1].fixedPackage is required when fixedVersion.kind is NORMAL",
        ],
        id="vulnerability-normal-versions",
    ),
    pytest.param(
        "vulnerability",
        {"packageIssue": [{"affectedCpeUri": CPE, "affectedPackage": "p", "affectedVersion": {}, "fixedVersion": {}}]},
        [
            "vulnerability.packageIssue[0].affectedVersion.kind is required",
            "vulnerability.packageIssue[0].fixedVersion.kind is required",
        ],
        id="vulnerability-kindless-versions",
    ),
    pytest.param(
        "build",
        {},
        ["build requires one of provenance, intotoProvenance, intotoStatement, inTotoSlsaProvenanceV1"],
        id="build-no-provenance",
    ),
    pytest.param(
        "build",
        {
            "provenance": {
                "commands": [{"name": "a"}, {"args": ["x"]}],
                "sourceProvenance": {"fileHashes": {"a.c": {"fileHash": [{}]}, "b.c": {}}},
            }
        },
        [
            "build.provenance.id is required",
            "build.provenance.commands[1].name is required",
            "build.provenance.sourceProvenance.fileHashes['a.c'].fileHash[0].type is required",
            "build.provenance.sourceProvenance.fileHashes['a.c'].fileHash[0].value is required",
            "build.provenance.sourceProvenance.fileHashes['b.c'].fileHash is required",
        ],
        id="build-bad-provenance",
    ),
    pytest.param("image", {}, ["image.fingerprint is required"], id="image-no-fingerprint"),
    pytest.param(
        "image",
        {"fingerprint": {"v2Blob": [""]}, "layerInfo": [{"directive": "RUN"}, {"arguments": "x"}]},
        [
            "image.fingerprint.v1Name is required",
            "image.fingerprint.v2Blob[0] must not be empty",
            "image.layerInfo[1].directive is required",
        ],
        id="image-bad-fingerprint-and-layer",
    ),
    pytest.param("package", {}, ["package.name is required", "package.location is required"], id="package-empty"),
    pytest.param(
        "package",
        {"name": "p", "location": [{"path": "/usr/lib"}, {"cpeUri": CPE, "version": {"name": "1"}}]},
        ["package.location[0].cpeUri is required", "package.location[1].version.kind is required"],
        id="package-bad-locations",
    ),
    pytest.param("deployment", {"userEmail": "a@b"}, ["deployment.deployTime is required"], id="deployment-no-time"),
    pytest.param(
        "attestation", {}, ["attestation requires one of serializedPayload, jwts"], id="attestation-no-payload"
    ),
    pytest.param(
        "attestation",
        {"serializedPayload": "e30=", "signatures": [{"publicKeyId": "k"}, {"signature": "AAE="}], "jwts": [{}]},
        [
            "attestation.signatures[0].signature is required",
            "attestation.signatures[1].publicKeyId is required",
            "attestation.jwts[0].compactJwt is required",
        ],
        id="attestation-bad-signatures-and-jwts",
    ),
    pytest.param("upgrade", {}, ["upgrade requires one of package, windowsUpdate"], id="upgrade-empty"),
    pytest.param(
        "upgrade",
        {"package": "p", "parsedVersion": {"kind": "NORMAL"}, "distribution": {}, "windowsUpdate": {"title": "t"}},
        [
            "upgrade.parsedVersion.name is required when kind is NORMAL",
            "upgrade.distribution.cpeUri is required",
            "upgrade.windowsUpdate.identity is required",
        ],
        id="upgrade-incomplete-parts",
    ),
    pytest.param("dsseAttestation", {}, ["dsseAttestation requires one of envelope, statement"], id="dsse-empty"),
    pytest.param(
        "dsseAttestation",
        {"envelope": {"signatures": [{"keyid": "k"}]}},
        ["dsseAttestation.envelope.payload is required", "dsseAttestation.envelope.payloadType is required"],
        id="dsse-empty-envelope",
    ),
    pytest.param(
        "sbomReference",
        {"signatures": [{"keyid": "k"}]},
        ["sbomReference.payload is required", "sbomReference.payloadType is required"],
        id="sbom-no-payload",
    ),
    pytest.param("secret", {"locations": [{}]}, ["secret.kind is required"], id="secret-no-kind"),
    pytest.param(
        "secret", {"kind": "SECRET_KIND_UNSPECIFIED"}, ["secret.kind is required"], id="secret-unspecified-kind"
    ),
]


@pytest.mark.parametrize(("member", "details", "problems"), INVALID_OCCURRENCES)
def test_invalid_occurrences(member, details, problems):
    assert validate_occurrence(occurrence(member, details)) == problems


ALL_DETAILS = (
    "vulnerability, build, image, package, deployment, discovery, attestation, upgrade, compliance, "
    "dsseAttestation, sbomReference, secret, aiSkillAnalysis"
)


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        pytest.param(
            {},
            ["resourceUri is required", "noteName is required", f"details are required: set one of {ALL_DETAILS}"],
            id="empty",
        ),
        pytest.param(
            {"resourceUri": "", "noteName": "", "discovery": {}},
            ["resourceUri is required", "noteName is required"],
            id="empty-strings",
        ),
        pytest.param(
            {"resourceUri": "x" * (MAX_RESOURCE_URI_LENGTH + 1), "noteName": NOTE_NAME, "discovery": {}},
            ["resourceUri must be at most 2048 characters"],
            id="resource-uri-too-long",
        ),
        pytest.param(
            {"resourceUri": RESOURCE, "noteName": NOTE_NAME, "build": {}},
            ["build requires one of provenance, intotoProvenance, intotoStatement, inTotoSlsaProvenanceV1"],
            id="problems-from-details",
        ),
        pytest.param(
            {"noteName": NOTE_NAME, "deployment": {}},
            ["resourceUri is required", "deployment.deployTime is required"],
            id="collects-all-problems",
        ),
    ],
)
def test_occurrence_top_level(body, problems):
    assert validate_occurrence(CODEC.decode(OCCURRENCE, body)) == problems


def test_resource_uri_at_the_limit_is_valid():
    body = {"resourceUri": "x" * MAX_RESOURCE_URI_LENGTH, "noteName": NOTE_NAME, "discovery": {}}
    assert validate_occurrence(CODEC.decode(OCCURRENCE, body)) == []


@pytest.mark.parametrize("order", [("discovery", "compliance"), ("compliance", "discovery")])
def test_occurrence_with_two_details_members_is_rejected(order):
    both = {"resourceUri": RESOURCE, "noteName": NOTE_NAME, **{member: {} for member in order}}
    assert validate_occurrence(both) == ["only one of discovery, compliance may be set"]


_ODD = re.compile(r"[\x00-\x1f\x7f]|^\s|\s$")  # the rule, as one regular expression


@given(st.text(st.characters(codec="utf-8")) | st.text(" \t\n\x85\xa0\u2003\u3000\x1fa/@:"))
def test_odd_resource_uris_are_those_with_control_characters_or_edge_spaces(uri):
    assert odd_resource_uri(uri) == (_ODD.search(uri) is not None)
