"""CSAF 2.0 VEX documents (the format Artifact Analysis's `load-vex` reads): the product statuses about the
artifact being ingested, as VULNERABILITY_ASSESSMENT notes that ingestion copies onto its findings (vex.py).

Products are matched to the artifact by their `product_identification_helper` (products.py):
- a product whose purl, generic URIs or sha256 file hashes pin the artifact's digest is the artifact;
- a product whose purl or CPE names a package is that package anywhere in the artifact;
- a relationship's product (`default_component_of`, `optional_component_of`,
  `external_component_of`) is its component in its product: the component's package in the artifact
  when that product is the artifact. One whose component names no package is refused: read as the
  whole artifact, it would clear findings in every other package. A component of anything else
  (another image, or a package) is left out, as is any other product;
- a product under a `product_version_range` branch is left out, and so is a relationship's product
  whose component is one: read as its package, "fixed" for `>=4.17.21` would clear 4.17.20 too, and
  the gate has no range to hold a finding's version against (CycloneDX's ranges are left out alike).

For each vulnerability, its `product_status` gives the state of each product: `known_not_affected`
NOT_AFFECTED, `known_affected` (and `first_affected`, `last_affected`) AFFECTED, `fixed` (and
`first_fixed`) FIXED, `under_investigation` UNDER_INVESTIGATION; `recommended` says nothing of the
vulnerability. Flags give the justification (CSAF's labels are Grafeas's), `impact` threats its
details, remediations theirs; each applies to the products and product groups it names. Each product
about the artifact gives a note per vulnerability name (`cve` and each of `ids`), as in openvex.py.
A document with nothing about the artifact is refused, and so is one whose flags, threats and
remediations name products more than MAX_REFERENCES times (a group counting each of its products).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from . import reading as r
from .digests import require_resource_digest
from .openvex import JUSTIFICATIONS
from .plan import PlanBuilder, check_assessments, compact, safe_note_id
from .products import named_digests, named_package

VERSIONS = {"2.0": "2.0", "2.1": "2.1"}
STATUSES = {
    "known_not_affected": "NOT_AFFECTED",
    "known_affected": "AFFECTED",
    "first_affected": "AFFECTED",
    "last_affected": "AFFECTED",
    "fixed": "FIXED",
    "first_fixed": "FIXED",
    "under_investigation": "UNDER_INVESTIGATION",
}
REMEDIATIONS = {
    "vendor_fix": "VENDOR_FIX",
    "mitigation": "MITIGATION",
    "workaround": "WORKAROUND",
    "none_available": "NONE_AVAILABLE",
    "no_fix_planned": "NO_FIX_PLANNED",
    "fix_planned": "",  # CSAF 2.1; Grafeas has no such type
    "optional_patch": "",
}
# Products the flags, threats and remediations of one document may name, groups expanded: without a
# bound, one group of n products named by m items makes notes carrying n x m of them.
MAX_REFERENCES = 200_000
_COMPONENT_OF = frozenset({"default_component_of", "optional_component_of", "external_component_of"})
_ARTIFACT = ""  # a product's package when it is the whole artifact


@dataclass(frozen=True, slots=True)
class Product:
    """What a product id stands for here: the artifact (package ""), a package in it, or neither."""

    ours: bool
    package: str = _ARTIFACT
    ranged: bool = False  # a range of versions, which the gate cannot hold a finding against


_ELSEWHERE = Product(False)
_RANGED = Product(False, ranged=True)


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan a VULNERABILITY_ASSESSMENT note for each product status about the artifact, per name."""
    digest = require_resource_digest(plan.resource_uri)
    doc = r.as_object(r.load_json(raw), "")
    document = r.obj(doc, "document", "", required=True)
    if r.choice(document, "csaf_version", "document", VERSIONS, None) is None:
        r.fail("document.csaf_version", "is required")
    publisher = r.obj(document, "publisher", "document")
    publisher = compact(
        name=r.text(publisher, "name", "document.publisher"),
        issuingAuthority=r.text(publisher, "issuing_authority", "document.publisher"),
        publisherNamespace=r.text(publisher, "namespace", "document.publisher"),
    )
    title = r.text(document, "title", "document")
    tree = r.obj(doc, "product_tree", "")
    products = _products(tree, digest)
    groups = _Groups(tree)
    planned, ranged = 0, False
    for path, vulnerability in r.objects(doc, "vulnerabilities", "", required=True):
        names = [r.text(vulnerability, "cve", path)]
        names += [r.text(item, "text", ipath, required=True) for ipath, item in r.objects(vulnerability, "ids", path)]
        names = [name for name in dict.fromkeys(names) if name]
        if not names:
            r.fail(path, "names no vulnerability: it has neither cve nor ids")
        details = _Details(vulnerability, path, groups, title, publisher, plan.resource_uri)
        status = r.obj(vulnerability, "product_status", path)
        for key, state in STATUSES.items():
            for i, product_id in enumerate(r.strings(status, key, r.join(path, "product_status"))):
                product = products.get(product_id)
                if product is None:
                    r.fail(r.index(r.join(r.join(path, "product_status"), key), i), f"no product {product_id!r}")
                if not product.ours:
                    ranged = ranged or product.ranged
                    continue
                for name in names:
                    plan.note(*details.note(product_id, product.package, name, state))
                    planned += 1
                    check_assessments(planned, "vulnerabilities")
    if not planned:
        r.fail(
            "vulnerabilities",
            f"no product status is about {plan.resource_uri!r}: a product must name its digest (a pkg:oci purl, "
            "an image reference or a sha256 hash) or a package in it (a purl or CPE)"
            + (", and not be a product_version_range, which is left out" if ranged else ""),
        )


def _products(tree: dict, digest: str) -> dict[str, Product]:
    """Every product id of the tree, and what it stands for here."""
    named: dict[str, tuple[str, dict, bool]] = {}  # product id -> (path, full product name, ranged)
    _branch_products(r.objects(tree, "branches", "product_tree"), named, False)
    for path, product in r.objects(tree, "full_product_names", "product_tree"):
        named[r.text(product, "product_id", path, required=True)] = (path, product, False)
    products = {
        product_id: _RANGED if ranged else _product(product, path, digest)
        for product_id, (path, product, ranged) in named.items()
    }
    for path, relationship in r.objects(tree, "relationships", "product_tree"):
        full = r.obj(relationship, "full_product_name", path, required=True)
        product_id = r.text(full, "product_id", r.join(path, "full_product_name"), required=True)
        component = r.text(relationship, "product_reference", path, required=True)
        container = products.get(r.text(relationship, "relates_to_product_reference", path, required=True), _ELSEWHERE)
        inside = r.text(relationship, "category", path) in _COMPONENT_OF and container == Product(True)
        if not inside:
            products[product_id] = _ELSEWHERE
            continue
        if products.get(component, _ELSEWHERE).ranged:
            products[product_id] = _RANGED
            continue
        package = products.get(component, _ELSEWHERE).package
        if not package:
            # Read as the whole artifact, an assessment of one unknown part would clear findings in every other.
            r.fail(r.join(path, "product_reference"), f"{component!r} names no package by purl or CPE")
        products[product_id] = Product(True, package)
    return products


def _branch_products(branches: list[tuple[str, dict]], named: dict, ranged: bool) -> None:
    """Add the products of `branches` to `named`, each marked as in a version range (at any depth) or not."""
    for path, branch in branches:
        inside = ranged or r.text(branch, "category", path) == "product_version_range"
        if "product" in branch:
            product = r.obj(branch, "product", path)
            named[r.text(product, "product_id", r.join(path, "product"), required=True)] = (
                r.join(path, "product"),
                product,
                inside,
            )
        _branch_products(r.objects(branch, "branches", path), named, inside)


def _product(product: dict, path: str, digest: str) -> Product:
    helper = r.obj(product, "product_identification_helper", path)
    where = r.join(path, "product_identification_helper")
    purl, cpe = r.text(helper, "purl", where), r.text(helper, "cpe", where)
    uris = [r.text(item, "uri", upath) for upath, item in r.objects(helper, "x_generic_uris", where)]
    hashes = [
        r.text(file_hash, "value", fpath)
        for hpath, item in r.objects(helper, "hashes", where)
        for fpath, file_hash in r.objects(item, "file_hashes", hpath)
        if r.text(file_hash, "algorithm", fpath).lower() in ("sha256", "sha-256")
    ]
    if digest in named_digests([purl, *uris], hashes):
        return Product(True)
    package = named_package([purl], [cpe])
    return Product(True, package) if package else _ELSEWHERE


class _Groups:
    """The tree's product groups, and the products an item (flag, threat, remediation) names through them."""

    def __init__(self, tree: dict):
        self.groups = {
            r.text(group, "group_id", path, required=True): r.strings(group, "product_ids", path)
            for path, group in r.objects(tree, "product_groups", "product_tree")
        }
        self.named = 0

    def products(self, item: dict, path: str) -> list[str]:
        """The product ids `item` names, its groups' included, each once; InvalidArgument past MAX_REFERENCES."""
        ids = list(r.strings(item, "product_ids", path))
        for i, group in enumerate(r.strings(item, "group_ids", path)):
            if group not in self.groups:
                r.fail(r.index(r.join(path, "group_ids"), i), f"no product group {group!r}")
            ids += self.groups[group]
        # A group of n products named by m items is n x m: counted before a note is made of any of it.
        self.named += len(ids)
        if self.named > MAX_REFERENCES:
            r.fail(
                path,
                f"the document's flags, threats and remediations name products more than {MAX_REFERENCES} "
                "times (a group counts each of its products); split the document",
            )
        return list(dict.fromkeys(ids))


class _Details:
    """What one vulnerability entry says of each of its products, and the notes it makes of them."""

    def __init__(self, vulnerability: dict, path: str, groups: dict, title: str, publisher: dict, resource: str):
        self.resource, self.title, self.publisher = resource, title, publisher
        # By product: each item is read once, and a note looks its product up (items x notes was quadratic).
        self.flag: dict[str, str] = {}  # the first flag's label
        self.impacts: dict[str, list[str]] = {}
        self.remediations: dict[str, list[dict]] = {}
        for fpath, flag in r.objects(vulnerability, "flags", path):
            label = r.choice(flag, "label", fpath, JUSTIFICATIONS, "")
            for product_id in groups.products(flag, fpath):
                self.flag.setdefault(product_id, label)
        for tpath, threat in r.objects(vulnerability, "threats", path):
            details = r.text(threat, "details", tpath)
            if r.text(threat, "category", tpath) == "impact" and details:
                for product_id in groups.products(threat, tpath):
                    self.impacts.setdefault(product_id, []).append(details)
        for rpath, item in r.objects(vulnerability, "remediations", path):
            remedy = compact(
                remediationType=r.choice(item, "category", rpath, REMEDIATIONS, ""),
                details=r.text(item, "details", rpath),
                remediationUri=compact(url=r.text(item, "url", rpath)) or None,
            )
            for product_id in groups.products(item, rpath) if remedy else ():
                self.remediations.setdefault(product_id, []).append(remedy)
        notes = r.objects(vulnerability, "notes", path)
        self.description = next(
            (r.text(note, "text", npath) for npath, note in notes if r.text(note, "category", npath) == "description"),
            "",
        )
        self.summary = r.text(vulnerability, "title", path)
        # Each note id hashes the whole entry: hashed once here, not once per product and name.
        self.sha256 = hashlib.sha256(orjson.dumps(vulnerability, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def note(self, product_id: str, package: str, name: str, state: str) -> tuple[str, dict]:
        """The (note id, body) of the assessment of `product_id` (`package` in the artifact) under `name`."""
        justification = compact(
            justificationType=self.flag.get(product_id, ""), details="\n\n".join(self.impacts.get(product_id, ()))
        )
        assessment = compact(
            vulnerabilityId=name,
            shortDescription=self.summary,
            longDescription=self.description,
            state=state,
            justification=justification or None,
            remediations=[{**remedy} for remedy in self.remediations.get(product_id, ())] or None,
        )
        body = compact(
            shortDescription=f"{name}{f' in {package}' if package else ''}: {state}",
            longDescription=self.description,
            vulnerabilityAssessment=compact(
                title=self.title or f"VEX for {self.resource}",
                publisher={**self.publisher} or None,
                product=compact(
                    name=f"{package} in {self.resource}" if package else self.resource,
                    id=package,
                    genericUri=self.resource,
                ),
                assessment=assessment,
            ),
        )
        identity = [self.resource, self.publisher, self.sha256, product_id, state, name]
        revision = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"vex-{safe_note_id(name)}-{revision[:16]}", body
