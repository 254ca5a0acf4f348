"""Ingestion: scanner, SBOM, provenance and test reports mapped onto Grafeas notes and occurrences.

Pure mapping, with no HTTP and no database: `parse_report(format, raw, resource_uri=..., project=...,
note_project=..., now=...)` reads one report and returns an `IngestPlan` of canonical proto3-JSON
note bodies (by full note name: create when missing, never overwrite) and `PlannedOccurrence`s
(`key`, an idempotency key, and `body`, the occurrence without name or times). `FORMATS` lists the
format names; `resource_digest` is the resource-URI digest rule the gate shares. Malformed input
raises `grafeas_py.errors.InvalidArgument` naming the place: line and column for broken JSON or XML,
the path (`Results[2].Vulnerabilities[5].Severity`) for a document of the wrong shape.

Formats, one module each:
- trivy, grype, clair: VULNERABILITY occurrence per finding, VULNERABILITY note per advisory id,
  one DISCOVERY occurrence per scan (vulnerability.py);
- spdx, cyclonedx: SBOM_REFERENCE occurrence, PACKAGE occurrence per package, PACKAGE note per
  package name; CycloneDX VEX analyses as VULNERABILITY_ASSESSMENT notes (sbom.py), which storing
  the plan copies onto the findings they fit (vex.py);
- slsa: BUILD occurrence with inTotoSlsaProvenanceV1, from a statement or a DSSE envelope;
- junit: DSSE_ATTESTATION occurrence carrying an unsigned in-toto test-result statement;
- dsse: DSSE_ATTESTATION occurrence preserving a signed envelope (cosign attest);
- openvex, csaf: VULNERABILITY_ASSESSMENT notes for the statements about the artifact, no
  occurrences; copied onto the findings likewise.

Storing a plan (what the endpoint and the CLI do):

    plan = parse_report("trivy", body, resource_uri=uri, project="p", note_project="vulnz", now=now)
    for name, note in plan.notes.items():      # noteId = name.rsplit("/", 1)[1]
        create the note unless it exists
    for planned in plan.occurrences:
        create `planned.body` in projects/p unless an occurrence with `planned.key` exists (or,
        when there is none, one with `planned.legacy_key`), else update that one if its content differs

Grafeas has no field for the key, so the store keeps it beside the occurrence.
"""

from .digests import require_resource_digest, resource_digest
from .plan import IngestPlan, PlannedOccurrence, occurrence_key
from .report import FORMATS, parse_report

__all__ = [
    "FORMATS",
    "IngestPlan",
    "PlannedOccurrence",
    "occurrence_key",
    "parse_report",
    "require_resource_digest",
    "resource_digest",
]
