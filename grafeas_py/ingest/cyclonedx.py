"""CycloneDX JSON BOMs (1.4 to 1.7; tested against the 1.5 and 1.6 schemas): typed model and mapping.

1.7 only adds to what 1.6 has (citations, patents, ...), none of it in the members read here.

Components (nested ones too) become packages, see sbom.py; only software kinds count (application,
framework, library, operating-system, firmware, container, platform, device-driver), not files or
data. Licences: SPDX ids and expressions join with AND into `license.expression`, and so does a licence
name of one word (an id given as a name); other free-text names, which are not SPDX, go to
`license.comments`.

VEX: each entry of `vulnerabilities[]` with an `analysis` becomes a VULNERABILITY_ASSESSMENT note
per package its `affects` names, whose product is that package in the resource: `product.id` is the
package's purl (else its CPE, else a purl made of its name and version), which limits what the
assessment clears to findings in that package (gate/purls.py), and where `affects` lists `versions`
to the exact versions of the status the analysis speaks of (`_at_versions`); `genericUri` is the
resource. An `affects` ref is a component's bom-ref, or a BOM-Link to one; a ref to no component of
the BOM is taken as a purl if it is one (a VEX document kept apart from its SBOM names packages so),
and refused otherwise, as is a ref to a component whose purl and CPE (given) name no package. An
entry that names no package, or the BOM's own subject, is about the resource as a whole: its note has
no `product.id`; it is refused when the subject pins a digest (by
purl, image name or SHA-256 hash) that is not the resource's, as OpenVEX and CSAF leave another
digest out. States map as not_affected and false_positive -> NOT_AFFECTED, exploitable -> AFFECTED,
resolved and resolved_with_pedigree -> FIXED, in_triage -> UNDER_INVESTIGATION; an analysis without
a state (the schema allows it) gives an assessment without one, which clears nothing. Justifications
map where Grafeas has the same idea (code_not_present, code_not_reachable, protected_*); the
requires_* ones have none and are named in the justification details. An assessment is a statement
at one time, so the note id carries a hash of the resource, of the whole vulnerability entry and of
the package: re-ingesting the same VEX changes nothing, a revised one adds a note, and two entries
for one vulnerability in different packages are two notes. Entries without an analysis are a
vulnerability disclosure, not VEX, and are skipped. A BOM with assessments and no components is a
VEX document: it gets no SBOM reference.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

import orjson

from ..gate.purls import names_package, split_purl_version
from . import reading as r
from .digests import resource_digest
from .identifiers import package_location, package_type, purl_type
from .plan import PlanBuilder, check_assessments, compact, safe_note_id
from .products import named_digests
from .sbom import Component, add_packages, add_sbom

VERSIONS = {"1.4": "1.4", "1.5": "1.5", "1.6": "1.6", "1.7": "1.7"}
MIME_TYPE = "application/vnd.cyclonedx+json"
PACKAGE_KINDS = frozenset(
    {"application", "framework", "library", "operating-system", "firmware", "container", "platform", "device-driver"}
)
STATES = {
    "resolved": "FIXED",
    "resolved_with_pedigree": "FIXED",
    "exploitable": "AFFECTED",
    "in_triage": "UNDER_INVESTIGATION",
    "false_positive": "NOT_AFFECTED",
    "not_affected": "NOT_AFFECTED",
}
JUSTIFICATIONS = {
    "code_not_present": "VULNERABLE_CODE_NOT_PRESENT",
    "code_not_reachable": "VULNERABLE_CODE_NOT_IN_EXECUTE_PATH",
    "requires_configuration": "",
    "requires_dependency": "",
    "requires_environment": "",
    "protected_by_compiler": "INLINE_MITIGATIONS_ALREADY_EXIST",
    "protected_at_runtime": "INLINE_MITIGATIONS_ALREADY_EXIST",
    "protected_at_perimeter": "INLINE_MITIGATIONS_ALREADY_EXIST",
    "protected_by_mitigating_control": "INLINE_MITIGATIONS_ALREADY_EXIST",
}
_LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")  # one word, as SPDX ids are: not "Apache License 2.0"
RESPONSES = {
    "can_not_fix": "NONE_AVAILABLE",
    "will_not_fix": "NO_FIX_PLANNED",
    "update": "VENDOR_FIX",
    "rollback": "",
    "workaround_available": "WORKAROUND",
}


@dataclass(frozen=True, slots=True)
class CdxComponent:
    bom_ref: str
    kind: str
    name: str
    version: str
    purl: str
    cpe: str
    license_expressions: tuple[str, ...]
    license_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CdxAnalysis:
    state: str  # Grafeas name, "" when the analysis gives none
    justification: str  # CycloneDX name, "" when absent
    responses: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class CdxVulnerability:
    path: str  # where it is in the document, for errors
    id: str
    source_name: str
    source_url: str
    description: str
    analysis: CdxAnalysis | None
    # (path, ref, versions) of each component or service it names; versions: (version, range, status)
    affects: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...]
    entry: dict  # the raw entry: what the assessment's note id is a hash of


@dataclass(frozen=True, slots=True)
class CdxBom:
    spec_version: str
    subject_name: str
    subject_ref: str  # the bom-ref of metadata.component, the resource itself
    subject_digests: frozenset[str]  # the sha256 digests metadata.component pins (purl, image name, hashes)
    publisher: str
    components: tuple[CdxComponent, ...]
    vulnerabilities: tuple[CdxVulnerability, ...]


def parse(raw: bytes) -> CdxBom:
    """Read a CycloneDX JSON BOM into the typed model."""
    doc = r.as_object(r.load_json(raw), "")
    if doc.get("bomFormat") != "CycloneDX":
        r.fail("bomFormat", f"expected 'CycloneDX', got {doc.get('bomFormat')!r}")
    version = r.choice(doc, "specVersion", "", VERSIONS, default=None)
    if version is None:
        r.fail("specVersion", "is required")
    metadata = r.obj(doc, "metadata", "")
    publisher = r.obj(metadata, "supplier", "metadata") or r.obj(metadata, "manufacturer", "metadata")
    subject = r.obj(metadata, "component", "metadata")
    return CdxBom(
        spec_version=version,
        subject_name=r.text(subject, "name", "metadata.component"),
        subject_ref=r.text(subject, "bom-ref", "metadata.component"),
        subject_digests=frozenset(
            named_digests(
                [r.text(subject, "purl", "metadata.component"), r.text(subject, "name", "metadata.component")],
                [
                    r.text(h, "content", hpath)
                    for hpath, h in r.objects(subject, "hashes", "metadata.component")
                    if r.text(h, "alg", hpath) == "SHA-256"
                ],
            )
        ),
        publisher=r.text(publisher, "name", "metadata.supplier"),
        # The subject's own components (cdxgen writes a multi-module build's modules there) are in it too.
        components=(*_components(subject, "metadata.component"), *_components(doc, "")),
        vulnerabilities=tuple(_vulnerability(v, path) for path, v in r.objects(doc, "vulnerabilities", "")),
    )


def _components(d: dict, path: str):
    """Every component in document order, each before the components it nests."""
    # A stack, not recursion: each `yield from` level costs every component below it a frame to pass.
    stack = r.objects(d, "components", path)[::-1]
    while stack:
        cpath, c = stack.pop()
        yield _component(c, cpath)
        if c.get("components") is not None:  # most have none: spare them the deep path string
            stack.extend(r.objects(c, "components", cpath)[::-1])


def _component(d: dict, path: str) -> CdxComponent:
    expressions, names = [], []
    for lpath, choice in r.objects(d, "licenses", path):
        if "expression" in choice:
            expressions.append(r.text(choice, "expression", lpath, required=True))
            continue
        lic = r.obj(choice, "license", lpath, required=True)
        spdx_id = r.text(lic, "id", f"{lpath}.license")
        if spdx_id:
            expressions.append(spdx_id)
            continue
        name = r.text(lic, "name", f"{lpath}.license", required=True)
        # Some writers (Trivy's CycloneDX, for one) give every licence as a name, SPDX ids too.
        (expressions if _LICENSE_ID.fullmatch(name) else names).append(name)
    group, name = r.text(d, "group", path), r.text(d, "name", path, required=True)
    return CdxComponent(
        bom_ref=r.text(d, "bom-ref", path),
        kind=r.text(d, "type", path, required=True),
        name=f"{group}/{name}" if group else name,  # as a purl names it: npm @babel/core, Maven group/artifact
        version=r.text(d, "version", path),
        purl=r.text(d, "purl", path),
        cpe=r.text(d, "cpe", path),
        license_expressions=tuple(expressions),
        license_names=tuple(names),
    )


def _versions(affects: dict, path: str) -> tuple[tuple[str, str, str], ...]:
    """(version, range, status) of each entry of an `affects` item's `versions`; status defaults to affected."""
    return tuple(
        (r.text(v, "version", vpath), r.text(v, "range", vpath), r.text(v, "status", vpath) or "affected")
        for vpath, v in r.objects(affects, "versions", path)
    )


def _vulnerability(d: dict, path: str) -> CdxVulnerability:
    source = r.obj(d, "source", path)
    return CdxVulnerability(
        path=path,
        id=r.text(d, "id", path, required=True),
        source_name=r.text(source, "name", f"{path}.source"),
        source_url=r.text(source, "url", f"{path}.source"),
        description=r.text(d, "description", path),
        analysis=_analysis(r.obj(d, "analysis", path), f"{path}.analysis") if "analysis" in d else None,
        affects=tuple(
            (f"{apath}.ref", r.text(a, "ref", apath, required=True), _versions(a, apath))
            for apath, a in r.objects(d, "affects", path)
        ),
        entry=d,
    )


def _analysis(a: dict, path: str) -> CdxAnalysis:
    # The schema makes state optional. Without one the analysis claims nothing: its assessment has no
    # state (STATE_UNSPECIFIED), so it can never clear a finding.
    state = r.choice(a, "state", path, STATES, default="")
    responses = r.strings(a, "response", path)
    for i, response in enumerate(responses):
        if response not in RESPONSES:
            r.fail(f"{path}.response[{i}]", f"unknown value {response!r}; expected one of {', '.join(RESPONSES)}")
    return CdxAnalysis(
        state=state,
        justification=r.choice(a, "justification", path, {k: k for k in JUSTIFICATIONS}, default=""),
        responses=responses,
        detail=r.text(a, "detail", path),
    )


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the SBOM reference, packages and VEX assessments of a CycloneDX BOM."""
    bom = parse(raw)
    assessed = [v for v in bom.vulnerabilities if v.analysis]
    if bom.components or not assessed:
        add_sbom(plan, "cyclonedx", bom.spec_version, MIME_TYPE)
    add_packages(plan, [_package(c) for c in bom.components if c.kind in PACKAGE_KINDS])
    by_ref: dict[str, list[CdxComponent]] = {}
    for c in bom.components if assessed else ():
        if c.bom_ref:
            by_ref.setdefault(c.bom_ref, []).append(c)
    digest = resource_digest(plan.resource_uri)
    elsewhere = bool(bom.subject_digests) and digest not in bom.subject_digests
    planned = 0
    for vulnerability in assessed:
        affected = [
            product
            for path, ref, versions in vulnerability.affects
            for product in _at_versions(_affected(ref, path, by_ref, bom.subject_ref), versions, vulnerability)
        ]
        if vulnerability.affects and not affected:
            continue  # it names versions it cannot be limited to (ranges): it clears nothing
        packages = affected or [""]
        if "" in packages and elsewhere:  # as OpenVEX and CSAF leave out a product of another digest
            found = ", ".join(f"sha256:{d}" for d in sorted(bom.subject_digests))
            r.fail(
                f"{vulnerability.path}.affects",
                f"the assessment is about the BOM's subject (metadata.component), which is {found}, not the "
                f"artifact {plan.resource_uri}",
            )
        # One note per package, so that a state given for one never reads as given for another; the
        # whole resource ("") covers every package.
        # Each note id hashes the whole entry: hashed once here, not once per package.
        entry = orjson.dumps(vulnerability.entry, option=orjson.OPT_SORT_KEYS)
        hashed = hashlib.sha256(b"[" + orjson.dumps(plan.resource_uri) + b"," + entry)
        for package in dict.fromkeys(packages) if "" not in packages else [""]:
            _add_assessment(plan, bom, vulnerability, package, hashed.copy())
            planned += 1
            check_assessments(planned, "vulnerabilities")


def _package(c: CdxComponent) -> Component:
    ecosystem = purl_type(c.purl)
    expressions = c.license_expressions
    if len(expressions) > 1:
        expressions = [f"({e})" if " " in e else e for e in expressions]  # keep each one's own grouping
    return Component(
        name=c.name,
        version=c.version,
        location=package_location(c.purl, c.cpe, ecosystem, c.name),
        package_type=package_type(ecosystem),
        license_expression=" AND ".join(expressions),
        license_comments="; ".join(c.license_names),
    )


def _affected(ref: str, path: str, by_ref: dict[str, list[CdxComponent]], subject_ref: str) -> str:
    """The package an `affects` ref names, as an assessment's product.id; "" for the resource itself."""
    if ref.startswith("urn:cdx:") and "#" in ref:
        ref = unquote(ref.split("#", 1)[1])  # a BOM-Link: the bom-ref it points at, in this BOM or another
    if ref == subject_ref:
        return ""
    components = by_ref.get(ref)
    if components:
        packages = list(dict.fromkeys(_package_id(c, ref, path) for c in components))
        if len(packages) > 1:  # which one it means, the BOM does not say
            listed = ", ".join(map(repr, packages))
            r.fail(path, f"{ref!r} is the bom-ref of {len(packages)} components naming other packages ({listed})")
        return packages[0]
    if ref.startswith("pkg:"):
        return ref
    # Read as the whole resource, an assessment of one unknown part would clear findings in every other.
    why = "names no component of this BOM and is not a package URL: the assessment cannot be limited to its package"
    r.fail(path, f"{ref!r} {why}")


def _at_versions(package: str, versions: tuple[tuple[str, str, str], ...], v: CdxVulnerability) -> list[str]:
    """The products an `affects` item stands for: its package, or where it lists versions, the package at
    each exact version of the status the analysis speaks of (unaffected for not_affected and resolved,
    affected otherwise). A range, or a package named by CPE, cannot be limited so and is left out:
    read as the whole package, `resolved` for `<4.17.21` would have cleared 4.17.20 too."""
    if not versions or not package:
        return [package]
    if not package.startswith("pkg:"):
        return []
    wanted = "unaffected" if v.analysis.state in ("NOT_AFFECTED", "FIXED") else "affected"
    unversioned, _ = split_purl_version(package)
    end = min((i for i in (unversioned.find("?"), unversioned.find("#")) if i >= 0), default=len(unversioned))
    return [
        f"{unversioned[:end]}@{quote(version, safe='')}{unversioned[end:]}"
        for version, _, status in versions
        if version and status == wanted
    ]


def _package_id(c: CdxComponent, ref: str, path: str) -> str:
    """A component as one package identifier: its purl, else its CPE, else a purl of its name and version."""
    if c.purl or c.cpe:
        package = next((identifier for identifier in (c.purl, c.cpe) if names_package(identifier)), "")
        if not package:
            # Read as no package, the assessment would be about the whole resource and clear every finding.
            given = " and ".join(f"{key} {value!r}" for key, value in (("purl", c.purl), ("cpe", c.cpe)) if value)
            why = "the assessment cannot be limited to it"
            r.fail(path, f"{ref!r} is a component whose {given} name no package: {why}")
        return package
    location = package_location("", "", "", c.name)
    return f"{location}@{quote(c.version, safe='')}" if c.version else location


def _add_assessment(plan: PlanBuilder, bom: CdxBom, v: CdxVulnerability, package: str, identity) -> None:
    """Plan the note of one entry's assessment of `package`; `identity` has hashed `[resource, entry` so far."""
    analysis = v.analysis
    # The hash of [resource, entry, package] as compact JSON; an assessment of the whole resource keeps
    # the id it had before assessments named packages, the hash of [resource, entry].
    identity.update(b"," + orjson.dumps(package) + b"]" if package else b"]")
    revision = identity.hexdigest()
    justification = None
    if analysis.justification:
        # Grafeas has no type for the requires_* justifications: name them in the details instead.
        justification_type = JUSTIFICATIONS[analysis.justification]
        details = analysis.detail if justification_type else f"{analysis.justification}: {analysis.detail}".rstrip(": ")
        justification = compact(justificationType=justification_type, details=details)
    assessment = compact(
        vulnerabilityId=v.id,
        shortDescription=v.description,
        longDescription=analysis.detail,
        relatedUris=[compact(url=v.source_url, label=v.source_name)] if v.source_url else None,
        state=analysis.state,
        justification=justification,
        remediations=[
            compact(remediationType=RESPONSES[response], details=response) for response in analysis.responses
        ],
    )
    subject = bom.subject_name or plan.resource_uri
    body = compact(
        shortDescription=f"{v.id}{f' in {package}' if package else ''}: {analysis.state or 'no state given'}",
        longDescription=analysis.detail,
        vulnerabilityAssessment=compact(
            title=f"VEX for {subject}",
            publisher=compact(name=bom.publisher) or None,
            product=compact(
                name=f"{package} in {subject}" if package else subject, id=package, genericUri=plan.resource_uri
            ),
            assessment=assessment,
        ),
    )
    plan.note(f"vex-{safe_note_id(v.id)}-{revision[:16]}", body)
