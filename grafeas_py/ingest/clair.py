"""Clair v4 vulnerability reports (`GET /matcher/api/v1/vulnerability_report/{digest}`): typed model and mapping.

The model follows quay/clair `httptransport/types/v1/vulnerability_report.schema.json`. A finding is
one (package, vulnerability) pair of `package_vulnerabilities`, told apart by Clair's key for the
vulnerability: several entries can share one name (rhel-container-updater writes one entry per CVE
an advisory fixes, each named after the advisory: "RHSA-2021:3917"), each with its own severity and
links. Clair's vulnerability `name` is the advisory as the vendor titles it ("CVE-2024-5535", or
"RHSA-2024:1234: openssl update (Important)"): its first word is the note id. `normalized_severity`
is Clair's single severity, so it is both severity and effectiveSeverity; the vendor's own wording
is kept as the note detail's severityName. CVSS comes from the `clair.cvss` enrichment when the
report carries it. OS packages are located by their distribution's CPE, which is what Clair knows;
language packages by a purl made from their repository (`pkg:pypi/urllib3@1.26.18`). Clair's report
has no scan time: `now` is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from . import reading as r
from .cvss import Cvss, version_of
from .identifiers import package_location
from .plan import PlanBuilder
from .vulnerability import Finding, Scan, add_findings

SEVERITY = {
    "Unknown": "",
    "Negligible": "MINIMAL",
    "Low": "LOW",
    "Medium": "MEDIUM",
    "High": "HIGH",
    "Critical": "CRITICAL",
}
_CVSS_ENRICHMENT = "enricher=clair.cvss"


@dataclass(frozen=True, slots=True)
class ClairPackage:
    id: str
    name: str
    version: str
    arch: str
    cpe: str


@dataclass(frozen=True, slots=True)
class ClairEnvironment:
    package_db: str
    distribution_id: str
    repository_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClairVulnerability:
    id: str
    name: str
    updater: str
    description: str
    links: tuple[str, ...]
    severity: str  # the vendor's wording
    normalized_severity: str  # Grafeas name
    fixed_in_version: str


@dataclass(frozen=True, slots=True)
class ClairReport:
    manifest_hash: str
    packages: dict[str, ClairPackage]
    distribution_cpes: dict[str, str]
    repositories: dict[str, tuple[str, str]]  # id -> (name, cpe)
    environments: dict[str, tuple[ClairEnvironment, ...]]
    vulnerabilities: dict[str, ClairVulnerability]
    package_vulnerabilities: dict[str, tuple[str, ...]]
    cvss: dict[str, Cvss]  # by vulnerability id


def parse(raw: bytes) -> ClairReport:
    """Read a Clair vulnerability report into the typed model; every id it refers to must exist."""
    doc = r.as_object(r.load_json(raw), "")
    manifest_hash = r.text(doc, "manifest_hash", "", required=True)
    packages = {k: _package(v, r.index("packages", k)) for k, v in _members(doc, "packages")}
    distributions = {
        k: r.text(r.as_object(v, r.index("distributions", k)), "cpe", r.index("distributions", k))
        for k, v in _members(doc, "distributions")
    }
    repositories = {k: _repository(v, r.index("repository", k)) for k, v in _members(doc, "repository")}
    environments = {
        k: tuple(_environment(e, epath) for epath, e in r.objects_in(v, r.index("environments", k)))
        for k, v in _members(doc, "environments")
    }
    vulnerabilities = {k: _vulnerability(v, r.index("vulnerabilities", k)) for k, v in _members(doc, "vulnerabilities")}
    package_vulnerabilities = {}
    for pkg_id, ids in _members(doc, "package_vulnerabilities"):
        path = r.index("package_vulnerabilities", pkg_id)
        if pkg_id not in packages:
            r.fail(path, f"no package {pkg_id!r} in packages")
        vuln_ids = r.strings_in(ids, path)
        for i, vuln_id in enumerate(vuln_ids):
            if vuln_id not in vulnerabilities:
                r.fail(r.index(path, i), f"no vulnerability {vuln_id!r} in vulnerabilities")
        package_vulnerabilities[pkg_id] = vuln_ids
    return ClairReport(
        manifest_hash=manifest_hash,
        packages=packages,
        distribution_cpes=distributions,
        repositories=repositories,
        environments=environments,
        vulnerabilities=vulnerabilities,
        package_vulnerabilities=package_vulnerabilities,
        cvss=_enrichment_cvss(r.obj(doc, "enrichments", "")),
    )


def _members(doc: dict, key: str) -> list[tuple[str, object]]:
    """The entries of a map member; Clair requires most of them, even when empty."""
    return list(r.obj(doc, key, "", required=key in ("packages", "vulnerabilities", "package_vulnerabilities")).items())


def _package(value, path: str) -> ClairPackage:
    d = r.as_object(value, path)
    return ClairPackage(
        id=r.text(d, "id", path),
        name=r.text(d, "name", path, required=True),
        version=r.text(d, "version", path),
        arch=r.text(d, "arch", path),
        cpe=r.text(d, "cpe", path),
    )


def _repository(value, path: str) -> tuple[str, str]:
    d = r.as_object(value, path)
    return r.text(d, "name", path), r.text(d, "cpe", path)


def _environment(d: dict, path: str) -> ClairEnvironment:
    return ClairEnvironment(
        package_db=r.text(d, "package_db", path),
        distribution_id=r.text(d, "distribution_id", path),
        repository_ids=r.strings(d, "repository_ids", path),
    )


def _vulnerability(value, path: str) -> ClairVulnerability:
    d = r.as_object(value, path)
    if "normalized_severity" not in d:
        r.fail(r.join(path, "normalized_severity"), "is required")
    return ClairVulnerability(
        id=r.text(d, "id", path),
        name=r.text(d, "name", path, required=True),
        updater=r.text(d, "updater", path),
        description=r.text(d, "description", path),
        links=tuple(r.text(d, "links", path).split()),
        severity=r.text(d, "severity", path),
        normalized_severity=r.choice(d, "normalized_severity", path, SEVERITY, default=""),
        fixed_in_version=_fixed_version(r.text(d, "fixed_in_version", path)),
    )


def _fixed_version(value: str) -> str:
    """Clair's OSV updater writes ranges as a query string, `fixed=1.26.19&introduced=0`."""
    if "=" in value:
        return parse_qs(value).get("fixed", [""])[0]
    return value


def _enrichment_cvss(enrichments: dict) -> dict[str, Cvss]:
    """CVSS (v2, v3 or v4) per vulnerability id from the `clair.cvss` enrichment; other enrichments are ignored."""
    out: dict[str, Cvss] = {}
    for kind, items in enrichments.items():
        if _CVSS_ENRICHMENT not in kind or type(items) is not list:
            continue
        for i, item in enumerate(items):
            path = r.index(r.index("enrichments", kind), i)
            for vuln_id, records in r.as_object(item, path).items():
                for rpath, record in r.objects_in(records, r.index(path, vuln_id)):
                    vector = r.text(record, "vectorString", rpath)
                    version = version_of(vector, r.text(record, "version", rpath))
                    if version is not None:
                        out.setdefault(vuln_id, Cvss(version, vector, r.cvss_score(record, "baseScore", rpath)))
    return out


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the notes and occurrences of a Clair vulnerability report."""
    report = parse(raw)
    findings = [
        _finding(report, report.packages[pkg_id], report.vulnerabilities[vuln_id], vuln_id)
        for pkg_id, vuln_ids in report.package_vulnerabilities.items()
        for vuln_id in vuln_ids
    ]
    cpes = sorted(set(report.distribution_cpes.values()) - {""})
    add_findings(plan, findings, Scan(scanner="Clair", cpe=cpes[0] if len(cpes) == 1 else ""))


def _finding(report: ClairReport, package: ClairPackage, vuln: ClairVulnerability, vuln_id: str) -> Finding:
    environments = report.environments.get(package.id, ())
    distribution_cpe = next(
        (report.distribution_cpes.get(e.distribution_id, "") for e in environments if e.distribution_id), None
    )
    repository = next((report.repositories.get(rid) for e in environments for rid in e.repository_ids), None)
    ecosystem = repository[0] if repository else ""
    if distribution_cpe is not None:
        package_type, cpe = "OS", package.cpe or distribution_cpe
    else:
        package_type, cpe = ecosystem.upper(), package.cpe or (repository[1] if repository else "")
    cvss = report.cvss.get(vuln_id)
    return Finding(
        vulnerability_id=(vuln.name.split() or [vuln.name])[0].rstrip(":") or vuln.name,
        package=package.name,
        version=package.version,
        package_type=package_type,
        location=package_location("", cpe, ecosystem, package.name),
        fixed_version=vuln.fixed_in_version,
        severity=vuln.normalized_severity,
        effective_severity=vuln.normalized_severity,
        cvss_v4=cvss if cvss and cvss.version == 4 else None,
        cvss_v3=cvss if cvss and cvss.version == 3 else None,
        cvss_v2=cvss if cvss and cvss.version == 2 else None,
        title=vuln.name if " " in vuln.name else "",
        description=vuln.description,
        urls=vuln.links,
        source=vuln.updater,
        identity=(package.arch, vuln.updater, vuln_id),
    )
