"""SPDX 2.3 JSON documents (2.2 reads the same way): typed model and mapping onto SBOM notes and occurrences.

The model keeps what the mapping needs from the SPDX 2.3 JSON schema: the document header and each
package's name, version, purl and CPE external references and licence. The licence is the concluded
one, else the declared one; NOASSERTION means "not known" and is left out. Both spellings of the
package-manager reference category are read (PACKAGE-MANAGER in 2.3, PACKAGE_MANAGER in 2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import reading as r
from .identifiers import package_location, package_type, purl_type
from .plan import PlanBuilder
from .sbom import Component, add_packages, add_sbom

VERSIONS = {"SPDX-2.2": "2.2", "SPDX-2.3": "2.3"}
MIME_TYPE = "application/spdx+json"
_CPE_TYPES = ("cpe23Type", "cpe22Type")
_UNKNOWN_LICENSES = ("", "NOASSERTION")


@dataclass(frozen=True, slots=True)
class SpdxPackage:
    spdx_id: str
    name: str
    version: str
    purl: str
    cpe: str
    license: str


@dataclass(frozen=True, slots=True)
class SpdxDocument:
    version: str  # "2.3"
    described: frozenset[str]  # SPDX ids of what the document describes
    packages: tuple[SpdxPackage, ...]


def parse(raw: bytes) -> SpdxDocument:
    """Read an SPDX JSON document into the typed model."""
    doc = r.as_object(r.load_json(raw), "")
    version = r.choice(doc, "spdxVersion", "", VERSIONS, default=None)
    if version is None:
        r.fail("spdxVersion", "is required (is this an SPDX JSON document?)")
    described = set(r.strings(doc, "documentDescribes", ""))
    for path, rel in r.objects(doc, "relationships", ""):
        if (
            r.text(rel, "relationshipType", path) == "DESCRIBES"
            and r.text(rel, "spdxElementId", path) == "SPDXRef-DOCUMENT"
        ):
            described.add(r.text(rel, "relatedSpdxElement", path))
    return SpdxDocument(
        version=version,
        described=frozenset(described),
        packages=tuple(_package(p, path) for path, p in r.objects(doc, "packages", "")),
    )


def _package(d: dict, path: str) -> SpdxPackage:
    purl = cpe = ""
    for rpath, ref in r.objects(d, "externalRefs", path):
        kind, locator = r.text(ref, "referenceType", rpath), r.text(ref, "referenceLocator", rpath)
        if kind == "purl" and not purl:
            purl = locator
        elif kind in _CPE_TYPES and not cpe:
            cpe = locator
    concluded = r.text(d, "licenseConcluded", path)
    return SpdxPackage(
        spdx_id=r.text(d, "SPDXID", path, required=True),
        name=r.text(d, "name", path, required=True),
        version=r.text(d, "versionInfo", path),
        purl=purl,
        cpe=cpe,
        license=concluded if concluded not in _UNKNOWN_LICENSES else _known(r.text(d, "licenseDeclared", path)),
    )


def _known(license: str) -> str:
    return "" if license in _UNKNOWN_LICENSES else license


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan the SBOM reference and package notes and occurrences of an SPDX document."""
    document = parse(raw)
    add_sbom(plan, "spdx", document.version, MIME_TYPE)
    add_packages(plan, [_component(p) for p in document.packages if p.spdx_id not in document.described])


def _component(p: SpdxPackage) -> Component:
    ecosystem = purl_type(p.purl)
    return Component(
        name=p.name,
        version=p.version,
        location=package_location(p.purl, p.cpe, ecosystem, p.name),
        package_type=package_type(ecosystem),
        license_expression=p.license,
    )
