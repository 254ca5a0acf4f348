"""SBOMs (SPDX, CycloneDX) as one SBOM_REFERENCE occurrence plus a PACKAGE occurrence per package.

The SBOM reference follows what Artifact Analysis writes for `gcloud artifacts sbom load`: note id
`sbom-{format}-{version with dashes}` holding format and version, and an occurrence whose in-toto
payload names the artifact as subject and the document by mime type and sha256. Its
`predicate.location` is left empty: the caller that stores the raw document fills it in. Packages
get a PACKAGE note per package name (the note only names the package) and an occurrence with the
version, location (identifiers.package_location) and licence expression. The document's own subject (SPDX's
DESCRIBES target, CycloneDX's metadata.component) is the resource itself, not a package in it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE
from grafeas_py.gate.purls import with_epoch

from .digests import resource_digest
from .plan import PlanBuilder, compact, normal_version, safe_note_id

# The statement and predicate types Artifact Analysis uses for SBOM references, kept for clients that read them.
SBOM_REFERENCE_STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
SBOM_REFERENCE_PREDICATE_TYPE = "https://bcid.corp.google.com/reference/v0.1"
REFERRER_ID = "grafeas-py"


@dataclass(frozen=True, slots=True)
class Component:
    """One package an SBOM lists."""

    name: str
    version: str
    location: str  # CPE or package URL
    package_type: str  # ecosystem in capitals, e.g. "MAVEN", or ""
    license_expression: str = ""
    license_comments: str = ""


def add_sbom(plan: PlanBuilder, sbom_format: str, sbom_version: str, mime_type: str) -> None:
    """Plan the SBOM_REFERENCE note and occurrence for the document as a whole."""
    note = plan.note(
        f"sbom-{sbom_format}-{sbom_version.replace('.', '-')}",
        {"sbomReference": {"format": sbom_format, "version": sbom_version}},
    )
    digest = resource_digest(plan.resource_uri)
    subject = compact(name=plan.resource_uri, digest={"sha256": digest} if digest else None)
    payload = {
        "type": SBOM_REFERENCE_STATEMENT_TYPE,
        "predicateType": SBOM_REFERENCE_PREDICATE_TYPE,
        "subject": [subject],
        "predicate": {
            "referrerId": REFERRER_ID,
            "mimeType": mime_type,
            "digest": {"sha256": plan.document_sha256},
        },
    }
    reference = {"payload": payload, "payloadType": IN_TOTO_PAYLOAD_TYPE}
    plan.occurrence(note, {"sbomReference": reference}, ("sbom", plan.document_sha256))


def add_packages(plan: PlanBuilder, components: list[Component]) -> None:
    """Plan a PACKAGE note per package name and a PACKAGE occurrence per listed package."""
    for c in _one_per_package(components):
        note = plan.note(safe_note_id(c.name), {"package": {"name": c.name}})
        # With its purl's epoch, as a scan of the same image names the package; keyed as listed.
        version = normal_version(with_epoch(c.version, c.location)) if c.version else None
        package = compact(
            name=c.name,
            location=[compact(cpeUri=c.location, version=version)],
            packageType=c.package_type,
            cpeUri=c.location,
            version=dict(version) if version else None,  # a copy: bodies share no objects
            license=compact(expression=c.license_expression, comments=c.license_comments),
        )
        plan.occurrence(note, {"package": package}, ("package", c.name, c.version, c.location))


def _one_per_package(components: list[Component]) -> list[Component]:
    """One component per occurrence (name, version and location), in the order first listed.

    A package listed twice under other licences (two copies of one jar) is under all of them: the
    first alone would hide an AGPL copy from a deny on it."""
    first: dict[tuple[str, str, str], Component] = {}
    licences: dict[tuple[str, str, str], tuple[dict, dict]] = {}  # expressions and comments, as ordered sets
    for c in components:
        key = (c.name, c.version, c.location)
        first.setdefault(key, c)
        expressions, comments = licences.setdefault(key, ({}, {}))
        expressions.setdefault(c.license_expression)
        comments.setdefault(c.license_comments)
    merged = []
    for key, c in first.items():
        expressions, comments = ([text for text in texts if text] for texts in licences[key])
        if len(expressions) > 1:
            expressions = [f"({e})" if " " in e else e for e in expressions]
        merged.append(replace(c, license_expression=" AND ".join(expressions), license_comments="; ".join(comments)))
    return merged
