"""Grype JSON reports (`grype -o json`): typed model and mapping.

The model follows anchore/grype `grype/presenter/models` (Document, Match, Vulnerability, Package,
descriptor). Grype gives one severity per match, so severity and effectiveSeverity are the same, and
one match per source of a vulnerability in a package: each is its own occurrence.
The CVSS comes from the match's own record, else from its related records (usually NVD's), newest
CVSS version first. The database build time goes to the DISCOVERY occurrence: how old the data was
matters when auditing a "clean" scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import reading as r
from .cvss import Cvss, version_of
from .identifiers import package_location, package_type, purl_type
from .plan import PlanBuilder
from .vulnerability import Finding, Scan, add_findings

# grype/vulnerability/severity.go, matched case-insensitively as Grype's ParseSeverity does.
SEVERITY = {
    "unknown": "",
    "negligible": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "critical": "CRITICAL",
}
# grype/vulnerability/fix.go; "" is what Grype writes when the state is not known.
FIX_STATES = {"fixed": "fixed", "not-fixed": "not-fixed", "wont-fix": "wont-fix", "unknown": "unknown", "": ""}


@dataclass(frozen=True, slots=True)
class GrypeCvss:
    version: str
    vector: str
    base_score: float | None


@dataclass(frozen=True, slots=True)
class GrypeVulnerability:
    id: str
    namespace: str
    data_source: str
    severity: str  # Grafeas name
    description: str
    urls: tuple[str, ...]
    cvss: tuple[GrypeCvss, ...]
    fix_versions: tuple[str, ...]
    fix_state: str


@dataclass(frozen=True, slots=True)
class GrypeArtifact:
    name: str
    version: str
    type: str
    purl: str
    cpes: tuple[str, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GrypeMatch:
    vulnerability: GrypeVulnerability
    related: tuple[GrypeVulnerability, ...]
    artifact: GrypeArtifact


@dataclass(frozen=True, slots=True)
class GrypeReport:
    matches: tuple[GrypeMatch, ...]
    grype_version: str
    timestamp: str
    database_built: str


def parse(raw: bytes) -> GrypeReport:
    """Read a Grype JSON report into the typed model."""
    doc = r.as_object(r.load_json(raw), "")
    if "matches" not in doc:
        r.fail("matches", "is required (is this a Grype JSON report?)")
    descriptor = r.obj(doc, "descriptor", "")
    db = r.obj(descriptor, "db", "descriptor")
    # Grype 0.80+ nests the database status; older versions put `built` on `db` itself.
    built = r.timestamp(r.obj(db, "status", "descriptor.db"), "built", "descriptor.db.status")
    return GrypeReport(
        matches=tuple(_match(d, path) for path, d in r.objects(doc, "matches", "")),
        grype_version=r.text(descriptor, "version", "descriptor"),
        timestamp=r.timestamp(descriptor, "timestamp", "descriptor"),
        database_built=built or r.timestamp(db, "built", "descriptor.db"),
    )


def _match(d: dict, path: str) -> GrypeMatch:
    return GrypeMatch(
        vulnerability=_vulnerability(r.obj(d, "vulnerability", path, required=True), f"{path}.vulnerability"),
        related=tuple(_vulnerability(v, vpath) for vpath, v in r.objects(d, "relatedVulnerabilities", path)),
        artifact=_artifact(r.obj(d, "artifact", path, required=True), f"{path}.artifact"),
    )


def _vulnerability(d: dict, path: str) -> GrypeVulnerability:
    fix = r.obj(d, "fix", path)
    return GrypeVulnerability(
        id=r.text(d, "id", path, required=True),
        namespace=r.text(d, "namespace", path),
        data_source=r.text(d, "dataSource", path),
        severity=r.choice(d, "severity", path, SEVERITY, default="", fold_case=True),
        description=r.text(d, "description", path),
        urls=r.strings(d, "urls", path),
        cvss=tuple(_cvss(c, cpath) for cpath, c in r.objects(d, "cvss", path)),
        fix_versions=r.strings(fix, "versions", f"{path}.fix"),
        fix_state=r.choice(fix, "state", f"{path}.fix", FIX_STATES, default=""),
    )


def _cvss(d: dict, path: str) -> GrypeCvss:
    return GrypeCvss(
        version=r.text(d, "version", path),
        vector=r.text(d, "vector", path),
        base_score=r.cvss_score(r.obj(d, "metrics", path), "baseScore", f"{path}.metrics"),
    )


def _artifact(d: dict, path: str) -> GrypeArtifact:
    return GrypeArtifact(
        name=r.text(d, "name", path, required=True),
        version=r.text(d, "version", path),
        type=r.text(d, "type", path),
        purl=r.text(d, "purl", path),
        cpes=r.strings(d, "cpes", path),
        paths=tuple(r.text(loc, "path", lpath) for lpath, loc in r.objects(d, "locations", path)),
    )


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the notes and occurrences of a Grype report."""
    report = parse(raw)
    scan = Scan(
        scanner="Grype",
        scanned_at=report.timestamp,
        database_updated_at=report.database_built,
    )
    add_findings(plan, [_finding(m) for m in report.matches], scan)


def _finding(match: GrypeMatch) -> Finding:
    v, a = match.vulnerability, match.artifact
    ecosystem = purl_type(a.purl)
    v4, v3, v2 = _chosen_cvss(match)
    fixed = ", ".join(v.fix_versions) if v.fix_state == "fixed" else ""
    return Finding(
        vulnerability_id=v.id,
        package=a.name,
        version=a.version,
        package_type=package_type(ecosystem or a.type),
        location=package_location(a.purl, a.cpes[0] if a.cpes else "", ecosystem or a.type, a.name),
        fixed_version=fixed,
        severity=v.severity,
        effective_severity=v.severity,
        cvss_v4=v4,
        cvss_v3=v3,
        cvss_v2=v2,
        description=v.description or next((rel.description for rel in match.related if rel.description), ""),
        urls=(*v.urls, *(url for rel in match.related for url in rel.urls)),
        file_paths=a.paths,
        source=v.namespace,
        # Grype matches one CVE in one package once per source (the distribution's advisory, NVD's CPE),
        # each rated and fixed its own way: each is a finding, judged on its own, so that one with a fix
        # is not hidden behind one without (or the other way round), whatever the policy's limits.
        identity=(a.type, v.namespace, *sorted(a.paths)),
        legacy_identity=(a.type, *sorted(a.paths)),
    )


def _chosen_cvss(match: GrypeMatch) -> tuple[Cvss | None, Cvss | None, Cvss | None]:
    """The first v4, v3 and v2 assessments, looking at the match's own record before related ones."""
    found: dict[int, Cvss] = {}
    for record in (match.vulnerability, *match.related):
        for c in sorted(record.cvss, key=lambda c: c.version, reverse=True):
            version = version_of(c.vector, c.version)
            if version is not None and version not in found:
                found[version] = Cvss(version, c.vector, c.base_score)
    return found.get(4), found.get(3), found.get(2)
