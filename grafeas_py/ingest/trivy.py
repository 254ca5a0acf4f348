"""Trivy JSON reports (SchemaVersion 2, `trivy image --format json`): typed model and mapping.

The model follows aquasecurity/trivy `pkg/types/report.go` and trivy-db's Vulnerability. Only what
the mapping reads is modelled; other members are ignored. Severity is Trivy's chosen severity for the
package (effectiveSeverity); `severity` is NVD's when Trivy lists it (VendorSeverity.nvd), as Grafeas
keeps the note provider's severity apart from the distribution's. The CVSS shown is the one from
Trivy's SeveritySource, else NVD, else the first source by name.

Exposed secrets (`Results[].Secrets[]`, `trivy image --scanners vuln,secret`) become SECRET
occurrences, one note per Trivy rule, with the file, line and layer where the secret was found.
Failed configuration checks (`Results[].Misconfigurations[]` with Status FAIL, `trivy config`)
become non-compliant COMPLIANCE occurrences, one COMPLIANCE note per check (`trivy-AVD-DS-0002`),
which a gate's compliance rule can name.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import reading as r
from .cvss import Cvss
from .identifiers import package_location, package_type, purl_type
from .plan import PlanBuilder, compact, safe_note_id
from .vulnerability import SEVERITIES, Finding, Scan, add_findings

SEVERITY = {"UNKNOWN": "", "LOW": "LOW", "MEDIUM": "MEDIUM", "HIGH": "HIGH", "CRITICAL": "CRITICAL"}
# trivy-db's numeric VendorSeverity: 0 unknown, 1 low, 2 medium, 3 high, 4 critical.
VENDOR_SEVERITY = ("", "LOW", "MEDIUM", "HIGH", "CRITICAL")
assert set(SEVERITY.values()) <= set(SEVERITIES)

# Trivy's built-in rules (pkg/fanal/secret/builtin-rules.go) whose secret Grafeas has a kind for. Trivy's
# github-app-token matches both user-to-server and server-to-server tokens, and its report masks which.
SECRET_KIND_BY_RULE = {
    "gcp-service-account": "SECRET_KIND_GCP_SERVICE_ACCOUNT_KEY",
    "github-pat": "SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN",
    "github-fine-grained-pat": "SECRET_KIND_GITHUB_FINE_GRAINED_PERSONAL_ACCESS_TOKEN",
    "github-oauth": "SECRET_KIND_GITHUB_OAUTH_TOKEN",
    "github-refresh-token": "SECRET_KIND_GITHUB_APP_REFRESH_TOKEN",
    "hugging-face-access-token": "SECRET_KIND_HUGGINGFACE_API_KEY",
    "stripe-secret-token": "SECRET_KIND_STRIPE_SECRET_KEY",
}
PACKAGE_CLASSES = ("os-pkgs", "lang-pkgs")  # the Results[].Class of what the vulnerability scanner read
_MAX_LINE = 2**31 - 1  # FileLocation.lineNumber is an int32
_REMEDIATION = "Remove the secret from the artifact and revoke it: whoever can pull the artifact can read it."


@dataclass(frozen=True, slots=True)
class TrivyCvss:
    source: str
    v2_vector: str
    v2_score: float | None
    v3_vector: str
    v3_score: float | None
    v4_vector: str
    v4_score: float | None


@dataclass(frozen=True, slots=True)
class TrivyVulnerability:
    vulnerability_id: str
    pkg_id: str
    pkg_name: str
    pkg_path: str
    purl: str
    installed_version: str
    fixed_version: str
    status: str
    severity: str  # Grafeas name
    severity_source: str
    nvd_severity: str | None  # Grafeas name, None when Trivy lists no NVD severity
    cvss: tuple[TrivyCvss, ...]
    title: str
    description: str
    primary_url: str
    references: tuple[str, ...]
    data_source: str


@dataclass(frozen=True, slots=True)
class TrivySecret:
    """One exposed secret (`Results[].Secrets[]`); Trivy masks the secret itself, so it is never here."""

    rule_id: str
    category: str
    severity: str  # Trivy's own word: CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN
    title: str
    start_line: int | None
    end_line: int | None
    layer_diff_id: str
    layer_created_by: str


@dataclass(frozen=True, slots=True)
class TrivyMisconfiguration:
    """One configuration check (`Results[].Misconfigurations[]`, `trivy config` or `--scanners misconfig`)."""

    check_type: str  # e.g. "Dockerfile Security Check"
    id: str  # AVDID when given (AVD-DS-0002), else ID (DS002)
    title: str
    description: str
    message: str
    resolution: str
    severity: str
    primary_url: str
    references: tuple[str, ...]
    status: str  # FAIL, PASS or EXCEPTION
    start_line: int | None
    end_line: int | None


@dataclass(frozen=True, slots=True)
class TrivyResult:
    target: str
    result_class: str
    type: str
    vulnerabilities: tuple[TrivyVulnerability, ...]
    secrets: tuple[TrivySecret, ...] = ()
    misconfigurations: tuple[TrivyMisconfiguration, ...] = ()


@dataclass(frozen=True, slots=True)
class TrivyReport:
    schema_version: int
    trivy_version: str
    created_at: str
    artifact_name: str
    os_family: str
    os_name: str
    results: tuple[TrivyResult, ...]


def parse(raw: bytes) -> TrivyReport:
    """Read a Trivy JSON report into the typed model."""
    doc = r.as_object(r.load_json(raw), "")
    version = r.integer(doc, "SchemaVersion", "")
    if version != 2:
        r.fail("SchemaVersion", f"unsupported value {version!r}; expected 2 (Trivy 0.20 and later)")
    metadata = r.obj(doc, "Metadata", "")
    os = r.obj(metadata, "OS", "Metadata")
    return TrivyReport(
        schema_version=version,
        trivy_version=r.text(r.obj(doc, "Trivy", ""), "Version", "Trivy"),
        created_at=r.timestamp(doc, "CreatedAt", ""),
        artifact_name=r.text(doc, "ArtifactName", ""),
        os_family=r.text(os, "Family", "Metadata.OS"),
        os_name=r.text(os, "Name", "Metadata.OS"),
        results=tuple(_result(d, path) for path, d in r.objects(doc, "Results", "")),
    )


def _result(d: dict, path: str) -> TrivyResult:
    return TrivyResult(
        target=r.text(d, "Target", path),
        result_class=r.text(d, "Class", path),
        type=r.text(d, "Type", path),
        vulnerabilities=tuple(_vulnerability(v, vpath) for vpath, v in r.objects(d, "Vulnerabilities", path)),
        secrets=tuple(_secret(v, spath) for spath, v in r.objects(d, "Secrets", path)),
        misconfigurations=tuple(_misconfiguration(v, mpath) for mpath, v in r.objects(d, "Misconfigurations", path)),
    )


def _misconfiguration(d: dict, path: str) -> TrivyMisconfiguration:
    cause = r.obj(d, "CauseMetadata", path)
    check_id = r.text(d, "AVDID", path) or r.text(d, "ID", path)
    if not check_id:
        r.fail(path, "a misconfiguration needs AVDID or ID")
    return TrivyMisconfiguration(
        check_type=r.text(d, "Type", path),
        id=check_id,
        title=r.text(d, "Title", path),
        description=r.text(d, "Description", path),
        message=r.text(d, "Message", path),
        resolution=r.text(d, "Resolution", path),
        severity=r.text(d, "Severity", path),
        primary_url=r.text(d, "PrimaryURL", path),
        references=r.strings(d, "References", path),
        status=r.text(d, "Status", path),
        start_line=r.integer(cause, "StartLine", f"{path}.CauseMetadata"),
        end_line=r.integer(cause, "EndLine", f"{path}.CauseMetadata"),
    )


def _secret(d: dict, path: str) -> TrivySecret:
    layer = r.obj(d, "Layer", path)
    return TrivySecret(
        rule_id=r.text(d, "RuleID", path, required=True),
        category=r.text(d, "Category", path),
        severity=r.text(d, "Severity", path),
        title=r.text(d, "Title", path),
        start_line=r.integer(d, "StartLine", path),
        end_line=r.integer(d, "EndLine", path),
        layer_diff_id=r.text(layer, "DiffID", f"{path}.Layer"),
        layer_created_by=r.text(layer, "CreatedBy", f"{path}.Layer"),
    )


def _vulnerability(d: dict, path: str) -> TrivyVulnerability:
    vendor = r.obj(d, "VendorSeverity", path)
    nvd = vendor.get("nvd")
    if nvd is not None and (type(nvd) is not int or not 0 <= nvd < len(VENDOR_SEVERITY)):
        r.fail(f"{path}.VendorSeverity.nvd", f"unknown value {nvd!r}; expected 0 to 4")
    cvss_map = r.obj(d, "CVSS", path)
    return TrivyVulnerability(
        vulnerability_id=r.text(d, "VulnerabilityID", path, required=True),
        pkg_id=r.text(d, "PkgID", path),
        pkg_name=r.text(d, "PkgName", path, required=True),
        pkg_path=r.text(d, "PkgPath", path),
        purl=r.text(r.obj(d, "PkgIdentifier", path), "PURL", f"{path}.PkgIdentifier"),
        installed_version=r.text(d, "InstalledVersion", path),
        fixed_version=r.text(d, "FixedVersion", path),
        status=r.text(d, "Status", path),
        severity=r.choice(d, "Severity", path, SEVERITY, default=""),
        severity_source=r.text(d, "SeveritySource", path),
        nvd_severity=None if nvd is None else VENDOR_SEVERITY[nvd],
        cvss=tuple(_cvss(source, r.obj(cvss_map, source, f"{path}.CVSS"), f"{path}.CVSS") for source in cvss_map),
        title=r.text(d, "Title", path),
        description=r.text(d, "Description", path),
        primary_url=r.text(d, "PrimaryURL", path),
        references=r.strings(d, "References", path),
        data_source=r.text(r.obj(d, "DataSource", path), "Name", f"{path}.DataSource"),
    )


def _cvss(source: str, d: dict, path: str) -> TrivyCvss:
    here = r.join(path, source)
    return TrivyCvss(
        source=source,
        v2_vector=r.text(d, "V2Vector", here),
        v2_score=r.cvss_score(d, "V2Score", here),
        v3_vector=r.text(d, "V3Vector", here),
        v3_score=r.cvss_score(d, "V3Score", here),
        v4_vector=r.text(d, "V40Vector", here),
        v4_score=r.cvss_score(d, "V40Score", here),
    )


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the notes and occurrences of a Trivy report."""
    report = parse(raw)
    findings = [_finding(result, v) for result in report.results for v in result.vulnerabilities]
    # The vulnerability scanner reports each set of packages it read, clean ones too; a report of secrets
    # or configuration checks alone (`trivy config`, `--scanners secret`) scanned no vulnerability.
    scanned = findings or any(result.result_class in PACKAGE_CLASSES for result in report.results)
    add_findings(plan, findings, Scan(scanner="Trivy", scanned_at=report.created_at) if scanned else None)
    for result in report.results:
        for secret in result.secrets:
            _add_secret(plan, result.target, secret)
        for misconfiguration in result.misconfigurations:
            if misconfiguration.status == "FAIL":  # PASS and EXCEPTION (waived) are not findings
                _add_misconfiguration(plan, result.target, misconfiguration)


def _add_secret(plan: PlanBuilder, target: str, secret: TrivySecret) -> None:
    """A SECRET occurrence where Trivy found one, on a note per Trivy rule."""
    subject = f"Trivy secret rule {secret.rule_id}"
    about = _described(subject, f"category {secret.category}" if secret.category else "", _severity(secret.severity))
    # A SecretNote has no fields: its presence alone makes the note's kind.
    note_body = {**compact(shortDescription=secret.title or subject, longDescription=about), "secret": {}}
    note = plan.note(safe_note_id(f"trivy-secret-{secret.rule_id}"), note_body)
    line = secret.start_line if secret.start_line is not None and 0 < secret.start_line <= _MAX_LINE else None
    layer = compact(diffId=secret.layer_diff_id, command=secret.layer_created_by)
    location = compact(filePath=target, lineNumber=line, layerDetails=layer)
    kind = SECRET_KIND_BY_RULE.get(secret.rule_id, "SECRET_KIND_UNKNOWN")
    details = {"secret": {"kind": kind, "locations": [{"fileLocation": location}]}, "remediation": _REMEDIATION}
    plan.occurrence(note, details, ("secret", target, secret.rule_id, str(secret.start_line), str(secret.end_line)))


def _add_misconfiguration(plan: PlanBuilder, target: str, check: TrivyMisconfiguration) -> None:
    """A non-compliant COMPLIANCE occurrence for a failed check, on a COMPLIANCE note per Trivy check."""
    subject = f"Trivy check {check.id}"
    urls = dict.fromkeys(url for url in (check.primary_url, *check.references) if url)
    note_body = compact(
        shortDescription=check.title or subject,
        longDescription=_described(subject, check.check_type, _severity(check.severity)),
        relatedUrl=[{"url": url} for url in urls],
    ) | {"compliance": compact(title=check.title, description=check.description, remediation=check.resolution)}
    note = plan.note(safe_note_id(f"trivy-{check.id}"), note_body)
    reason = check.message or check.title or f"fails Trivy check {check.id}"
    lines = _lines(check.start_line, check.end_line)
    where = f"{reason} ({lines})" if lines else reason
    files = [compact(path=target, reason=where)]
    details = {"compliance": {"nonCompliantFiles": files, "nonComplianceReason": reason}}
    if check.resolution:
        details["remediation"] = check.resolution
    plan.occurrence(note, details, ("misconfiguration", target, check.id, lines, check.message))


def _described(subject: str, *details: str) -> str:
    """`subject (detail, detail)`, leaving out the details Trivy did not give."""
    given = ", ".join(detail for detail in details if detail)
    return f"{subject} ({given})" if given else subject


def _severity(severity: str) -> str:
    return f"severity {severity}" if severity else ""


def _lines(start: int | None, end: int | None) -> str:
    if not start:
        return ""
    return f"line {start}" if not end or end == start else f"lines {start}-{end}"


def _finding(result: TrivyResult, v: TrivyVulnerability) -> Finding:
    ecosystem = purl_type(v.purl) or result.type
    cvss = _chosen_cvss(v)
    # The same package can sit in several targets (two lock files, two jars): separate findings. But
    # an OS package result's Target is the image reference as typed, plus the OS ("app:1.4 (alpine
    # 3.19.1)"): scanned by tag, then by digest, the image would get every OS finding twice.
    in_target = (result.target, v.pkg_path, v.pkg_id)
    if result.result_class == "os-pkgs":
        identity, legacy_identity = (result.result_class, result.type, v.pkg_path, v.pkg_id), in_target
    else:
        identity, legacy_identity = in_target, None
    return Finding(
        vulnerability_id=v.vulnerability_id,
        package=v.pkg_name,
        version=v.installed_version,
        package_type="OS" if result.result_class == "os-pkgs" else package_type(ecosystem),
        location=package_location(v.purl, "", ecosystem, v.pkg_name),
        fixed_version=v.fixed_version,
        severity=v.nvd_severity if v.nvd_severity is not None else v.severity,
        effective_severity=v.severity,
        cvss_v4=Cvss(4, cvss.v4_vector, cvss.v4_score) if cvss and (cvss.v4_vector or cvss.v4_score) else None,
        cvss_v3=Cvss(3, cvss.v3_vector, cvss.v3_score) if cvss and (cvss.v3_vector or cvss.v3_score) else None,
        cvss_v2=Cvss(2, cvss.v2_vector, cvss.v2_score) if cvss and (cvss.v2_vector or cvss.v2_score) else None,
        title=v.title,
        description=v.description,
        urls=(v.primary_url, *v.references),
        file_paths=(v.pkg_path,),
        source=v.data_source,
        identity=identity,
        legacy_identity=legacy_identity,
    )


def _chosen_cvss(v: TrivyVulnerability) -> TrivyCvss | None:
    by_source = {c.source: c for c in v.cvss}
    for source in (v.severity_source, "nvd"):
        if source in by_source:
            return by_source[source]
    return by_source[min(by_source)] if by_source else None
