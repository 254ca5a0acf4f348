"""OpenVEX documents (v0.2.0, and the string forms of the drafts before it): the statements about the
artifact being ingested, as VULNERABILITY_ASSESSMENT notes that ingestion copies onto its findings (vex.py).

A document may speak of many products, so each statement's products are matched to the artifact:

- a product naming the artifact's digest (a purl whose version is `sha256:<hex>`, such as
  `pkg:oci/app@sha256%3A...`; an image reference or URI pinning it, `.../app@sha256:...`; or
  `hashes["sha-256"]`) is the artifact: the statement is about all of it, or, when the product lists
  `subcomponents`, about each of those packages in it. A subcomponent that names no package (by purl
  or CPE) is refused: read as the whole artifact, it would clear findings in every other package.
- a product naming a package (a purl of any type but oci and docker, or a CPE) is that package
  wherever it is in the artifact, as a supplier's VEX for its own package means. One that lists
  subcomponents is left out: findings say which package they are in, not which package holds it.
- any other product (another digest, an image by tag, a bare name) is not this artifact: left out.
- a statement without products takes them from its encapsulating document (the spec's inheritance),
  which here is the ingestion naming the artifact: it is about all of it.

A document none of whose statements is about the artifact is refused, as it would change nothing.

The document may also come as the predicate of an in-toto statement (`predicateType` an OpenVEX
context), bare, in a DSSE envelope or in a Sigstore bundle, as `vexctl attest` and `cosign attest
--type openvex` make it. Its subjects are then what its statements are about: when none of them has
the artifact's sha256 digest, a statement without products, or with a package product, is about
another artifact, and only products naming this one's digest count. The envelope's signatures are not checked
here; storing it for the gate to verify is format `dsse`'s job.

Each statement gives a note per vulnerability name (its `name` and each alias, as scanners report
either) and per package, whose id hashes the resource, the author, the statement and both: posting
the same document again changes nothing. Statements are planned in time order (their `last_updated`
or `timestamp`, else the document's `timestamp`), so that where two fit a finding alike, the later
one is copied, as OpenVEX has later statements override earlier ones. Statuses and justifications
have Grafeas names of their own; `impact_statement` becomes the justification's details,
`status_notes` the long description, and `action_statement` a remediation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from grafeas_py.wire.timestamps import parse_timestamp

from . import reading as r
from .digests import require_resource_digest
from .intoto import is_envelope, read_statement
from .plan import PlanBuilder, check_assessments, compact, safe_note_id
from .products import named_digests, named_package

STATES = {
    "not_affected": "NOT_AFFECTED",
    "affected": "AFFECTED",
    "fixed": "FIXED",
    "under_investigation": "UNDER_INVESTIGATION",
}
# OpenVEX took these from the VEX working group, as Grafeas did.
JUSTIFICATIONS = {
    name: name.upper()
    for name in (
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    )
}
_CONTEXT = "https://openvex.dev/ns"


@dataclass(frozen=True, slots=True)
class Statement:
    names: tuple[str, ...]  # the vulnerability's name, then its aliases
    description: str
    uri: str  # the vulnerability's @id, when it is a web address
    products: tuple[tuple[str, dict], ...]  # (path, product); none: the artifact being ingested
    state: str
    justification: str  # Grafeas name, "" when absent
    impact: str
    action: str
    notes: str
    time: tuple[int, int]  # when it was made, (0, 0) when nothing says
    sha256: str  # of the statement as written, which its notes' ids hash: once, however many notes it makes


def ingest(raw: bytes, plan: PlanBuilder) -> None:
    """Plan a VULNERABILITY_ASSESSMENT note for each statement about the artifact, per package and name."""
    digest = require_resource_digest(plan.resource_uri)
    doc, at, subjects = _document(r.as_object(r.load_json(raw), ""))
    # Statements are about the encapsulating document's subjects: the artifact, when posted bare; an
    # attestation's subjects, which must then include it. An attestation about other artifacts speaks
    # of their packages too, so here only its products that name this artifact's digest count.
    inherited = subjects is None or digest in subjects
    context = r.text(doc, "@context", at, required=True)
    if not context.startswith(_CONTEXT):
        r.fail(r.join(at, "@context"), f"expected an OpenVEX context ({_CONTEXT}/...), got {context!r}")
    issued = r.timestamp(doc, "timestamp", at)
    entries = r.objects(doc, "statements", at, required=True)
    if not entries:
        r.fail(r.join(at, "statements"), "is empty: the document states nothing")
    statements = [_statement(entry, path, issued) for path, entry in entries]
    publisher = compact(name=r.text(doc, "author", at), issuingAuthority=r.text(doc, "role", at))
    title = r.text(doc, "@id", at)
    planned = 0
    for statement in sorted(statements, key=lambda s: s.time):  # stable: as written among equals
        for package in _packages(statement, digest, inherited):
            for name in statement.names:
                _add_assessment(plan, statement, package, name, publisher, title)
                planned += 1
                check_assessments(planned, r.join(at, "statements"))
    if not planned and not inherited:
        named = ", ".join(f"sha256:{s}" for s in sorted(subjects) if s) or "no sha256 digest"
        r.fail(
            r.join(at, "statements"),
            f"none is about {plan.resource_uri!r}: the attestation's subjects ({named}) do not include its "
            "digest, and no product names it (a pkg:oci purl, an image reference or hashes['sha-256'])",
        )
    if not planned:
        r.fail(
            r.join(at, "statements"),
            f"none is about {plan.resource_uri!r}: a product must name its digest (a pkg:oci purl, an image "
            "reference or hashes['sha-256']) or a package in it (a purl or CPE)",
        )


def _document(doc: dict) -> tuple[dict, str, set[str] | None]:
    """The OpenVEX document, its path, and the sha256 digests of the subjects of the in-toto statement
    carrying it (as `vexctl attest` and `cosign attest --type openvex` write it), or None when bare."""
    if "_type" not in doc and "dsseEnvelope" not in doc and not is_envelope(doc):
        return doc, "", None
    statement, _, where = read_statement(doc)
    if not statement.predicate_type.startswith(_CONTEXT):
        r.fail(
            f"{where}predicateType", f"expected an OpenVEX predicate ({_CONTEXT}/...), got {statement.predicate_type!r}"
        )
    subjects = {digests.get("sha256", "").lower() for _, digests in statement.subjects}
    return statement.predicate, f"{where}predicate", subjects


def _statement(d: dict, path: str, issued: str) -> Statement:
    vulnerability = d.get("vulnerability")
    if type(vulnerability) is str:  # the drafts before v0.2.0
        vulnerability = {"name": vulnerability, "description": r.text(d, "vuln_description", path)}
    if vulnerability is None:
        r.fail(r.join(path, "vulnerability"), "is required")
    where = r.join(path, "vulnerability")
    vulnerability = r.as_object(vulnerability, where)
    names = (r.text(vulnerability, "name", where, required=True), *r.strings(vulnerability, "aliases", where))
    uri = r.text(vulnerability, "@id", where)
    when = r.timestamp(d, "last_updated", path) or r.timestamp(d, "timestamp", path) or issued
    if d.get("status") is None:
        r.fail(r.join(path, "status"), "is required")
    return Statement(
        names=tuple(name for name in dict.fromkeys(names) if name),
        description=r.text(vulnerability, "description", where),
        uri=uri if uri.startswith(("https://", "http://")) else "",
        products=_products(d, path),
        state=r.choice(d, "status", path, STATES, ""),
        justification=r.choice(d, "justification", path, JUSTIFICATIONS, ""),
        impact=r.text(d, "impact_statement", path),
        action=r.text(d, "action_statement", path),
        notes=r.text(d, "status_notes", path),
        time=parse_timestamp(when) if when else (0, 0),
        sha256=hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest(),
    )


def _products(d: dict, path: str) -> tuple[tuple[str, dict], ...]:
    """The statement's products as objects, each with its path; the drafts' strings become their @id."""
    where = r.join(path, "products")
    products = [_component(item, r.index(where, i)) for i, item in enumerate(r.array(d, "products", path))]
    if "subcomponents" in d:  # the drafts list them beside the products, for all of them
        subcomponents = r.array(d, "subcomponents", path)
        products = [(p, {**product, "subcomponents": subcomponents}) for p, product in products]
    return tuple(products)


def _component(item, path: str) -> tuple[str, dict]:
    return (path, {"@id": item}) if type(item) is str else (path, r.as_object(item, path))


def _packages(statement: Statement, digest: str, inherited: bool) -> list[str]:
    """The packages of the artifact a statement is about, as product ids: "" for all of it. Unless it
    `inherited` the artifact, only products naming the artifact's digest are about it."""
    if not statement.products:
        return [""] if inherited else []
    found = []
    for path, product in statement.products:
        where = r.join(path, "subcomponents")
        subcomponents = [
            _component(item, r.index(where, i)) for i, item in enumerate(r.array(product, "subcomponents", path))
        ]
        if digest in _digests(product, path):
            found += [_subcomponent_package(sub, p) for p, sub in subcomponents] or [""]
        elif inherited and not subcomponents and (package := _package_id(product, path)):
            found.append(package)
    return list(dict.fromkeys(found))


def _digests(component: dict, path: str) -> set[str]:
    """The sha256 digests a component names, lowercase hex."""
    identifiers = (r.text(component, "@id", path), _identifiers(component, path).get("purl", ""))
    return named_digests(identifiers, [r.string_map(component, "hashes", path).get("sha-256", "")])


def _package_id(component: dict, path: str) -> str:
    """The package a component names, by purl or CPE; "" when none."""
    identifiers, at_id = _identifiers(component, path), r.text(component, "@id", path)
    return named_package(
        [identifiers.get("purl", ""), at_id], [identifiers.get("cpe23", ""), identifiers.get("cpe22", ""), at_id]
    )


def _identifiers(component: dict, path: str) -> dict[str, str]:
    """The component's identifiers; an earlier schema spelled the CPE keys with an @."""
    return {key.lstrip("@"): value for key, value in r.string_map(component, "identifiers", path).items()}


def _subcomponent_package(subcomponent: dict, path: str) -> str:
    package = _package_id(subcomponent, path)
    if not package:
        # Read as the whole artifact, an assessment of one unknown part would clear findings in every other.
        r.fail(path, "names no package by purl or CPE: the assessment cannot be limited to it")
    return package


def _add_assessment(plan: PlanBuilder, s: Statement, package: str, name: str, publisher: dict, title: str) -> None:
    identity = [plan.resource_uri, publisher, s.sha256, package, name]
    revision = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assessment = compact(
        vulnerabilityId=name,
        shortDescription=s.description,
        longDescription=s.notes,
        relatedUris=[{"url": s.uri}] if s.uri else None,
        state=s.state,
        justification=compact(justificationType=s.justification, details=s.impact) or None,
        remediations=[{"details": s.action}] if s.action else None,
    )
    subject = plan.resource_uri
    body = compact(
        shortDescription=f"{name}{f' in {package}' if package else ''}: {s.state}",
        longDescription=s.notes,
        vulnerabilityAssessment=compact(
            title=title or f"VEX for {subject}",
            publisher={**publisher} or None,  # each body its own: a caller may edit one
            product=compact(name=f"{package} in {subject}" if package else subject, id=package, genericUri=subject),
            assessment=assessment,
        ),
    )
    plan.note(f"vex-{safe_note_id(name)}-{revision[:16]}", body)
