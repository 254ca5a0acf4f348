"""Minimal valid bodies of every kind, as a client would send them (camelCase JSON)."""

from __future__ import annotations

import copy

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"https://gcr.io/acme/app@{DIGEST}"

NOTE_BODIES: dict[str, dict] = {
    "VULNERABILITY": {
        "vulnerability": {
            "severity": "CRITICAL",
            "cvssScore": 9.8,
            "details": [{"affectedCpeUri": "cpe:/o:debian:debian_linux:12", "affectedPackage": "xz-utils"}],
        }
    },
    "BUILD": {"build": {"builderVersion": "gcb-2024.1"}},
    "IMAGE": {
        "image": {
            "resourceUrl": "https://gcr.io/base/debian",
            "fingerprint": {"v1Name": "v1", "v2Blob": ["sha256:" + "cd" * 32]},
        }
    },
    "PACKAGE": {"package": {"name": "openssl"}},
    "DEPLOYMENT": {"deployment": {"resourceUri": ["https://gcr.io/acme/app"]}},
    "DISCOVERY": {"discovery": {"analysisKind": "VULNERABILITY"}},
    "ATTESTATION": {"attestation": {"hint": {"humanReadableName": "qa-attestor"}}},
    "UPGRADE": {"upgrade": {"package": "openssl", "version": {"name": "3.0.13", "kind": "NORMAL"}}},
    "COMPLIANCE": {"compliance": {"title": "CIS 1.1", "cisBenchmark": {"profileLevel": 1, "severity": "HIGH"}}},
    "DSSE_ATTESTATION": {"dsseAttestation": {"hint": {"humanReadableName": "slsa-attestor"}}},
    "VULNERABILITY_ASSESSMENT": {
        "vulnerabilityAssessment": {
            "title": "VEX for CVE-2024-3094",
            "assessment": {"vulnerabilityId": "CVE-2024-3094", "state": "NOT_AFFECTED"},
        }
    },
    "SBOM_REFERENCE": {"sbomReference": {"format": "SPDX", "version": "2.3"}},
    "SECRET": {"secret": {}},
    "AI_SKILL_ANALYSIS": {"aiSkillAnalysis": {}},
}

OCCURRENCE_DETAILS: dict[str, dict] = {
    "VULNERABILITY": {
        "vulnerability": {
            "effectiveSeverity": "HIGH",
            "packageIssue": [
                {
                    "affectedCpeUri": "cpe:/o:debian:debian_linux:12",
                    "affectedPackage": "xz-utils",
                    "affectedVersion": {"name": "5.6.0", "kind": "NORMAL"},
                    "fixedCpeUri": "cpe:/o:debian:debian_linux:12",
                    "fixedPackage": "xz-utils",
                    "fixedVersion": {"name": "5.6.1", "kind": "NORMAL"},
                }
            ],
        }
    },
    "BUILD": {"build": {"provenance": {"id": "build-1", "builderVersion": "gcb-2024.1"}}},
    "IMAGE": {"image": {"fingerprint": {"v1Name": "v1", "v2Blob": ["sha256:" + "cd" * 32]}, "distance": 1}},
    "PACKAGE": {"package": {"name": "openssl", "location": [{"cpeUri": "cpe:/o:debian:debian_linux:12"}]}},
    "DEPLOYMENT": {"deployment": {"deployTime": "2024-05-01T12:00:00Z", "platform": "GKE"}},
    "DISCOVERY": {"discovery": {"analysisStatus": "FINISHED_SUCCESS", "lastScanTime": "2024-05-01T12:00:00Z"}},
    "ATTESTATION": {
        "attestation": {
            "serializedPayload": "eyJjcml0aWNhbCI6e319",
            "signatures": [{"signature": "AAFzaWc=", "publicKeyId": "openpgp4fpr:ABCDEF"}],
        }
    },
    "UPGRADE": {"upgrade": {"package": "openssl", "parsedVersion": {"name": "3.0.13", "kind": "NORMAL"}}},
    "COMPLIANCE": {"compliance": {"nonComplianceReason": "root login enabled"}},
    "DSSE_ATTESTATION": {
        "dsseAttestation": {
            "envelope": {
                "payload": "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==",
                "payloadType": "application/vnd.in-toto+json",
                "signatures": [{"sig": "AAFzaWc=", "keyid": "k1"}],
            }
        }
    },
    "SBOM_REFERENCE": {
        "sbomReference": {
            "payloadType": "application/vnd.in-toto+json",
            "payload": {
                "predicateType": "https://bcid.corp.google.com/reference/v0.1",
                "predicate": {"location": "gs://bucket/sbom.spdx.json", "mimeType": "application/spdx+json"},
            },
        }
    },
    "SECRET": {"secret": {"kind": "SECRET_KIND_GCP_API_KEY"}},
    "AI_SKILL_ANALYSIS": {"aiSkillAnalysis": {"skillName": "code-review", "findings": [{"ruleId": "R1"}]}},
}


def occurrence_body(kind: str, note_name: str, resource_uri: str = IMAGE) -> dict:
    """A fresh (deep-copied) occurrence body, safe for a test to modify."""
    return {"resourceUri": resource_uri, "noteName": note_name, **copy.deepcopy(OCCURRENCE_DETAILS[kind])}
