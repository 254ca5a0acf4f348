"""OpenVEX documents: which statements are about the artifact, and the assessment notes they become."""

from __future__ import annotations

import base64
import json

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest.vex import assessed, assessment_notes

from .support import DIGEST, IMAGE, ingest, raw, refusal, vex_assessments

FIXTURE = "openvex/payments-api.openvex.json"
OTHER = "9e8d7c6b5a49382716059f8e7d6c5b4a39281706f5e4d3c2b1a0998877665544"


def document(*statements: dict, **fields) -> bytes:
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://vex.example.com/doc-1",
        "author": "Acme Security",
        "timestamp": "2024-12-02T09:00:00Z",
        "version": 1,
        "statements": list(statements),
        **fields,
    }
    return json.dumps(doc).encode()


def statement(product=None, cve="CVE-2024-1", status="not_affected", **fields) -> dict:
    body = {"vulnerability": {"name": cve}, "status": status, **fields}
    if status == "not_affected":
        body.setdefault("justification", "component_not_present")
    if product is not None:
        body["products"] = [product]
    return body


def assessments(source, resource_uri: str = IMAGE) -> list[tuple[str, str, str]]:
    return vex_assessments("openvex", source, resource_uri)


def test_the_statements_about_the_image_become_notes_in_time_order():
    assert assessments(FIXTURE) == [
        # written second, made first: the later statement is planned later, and so is the one copied
        ("pkg:maven/org.yaml/snakeyaml@1.33", "CVE-2022-1471", "UNDER_INVESTIGATION"),
        ("pkg:maven/org.yaml/snakeyaml@1.33", "CVE-2022-1471", "NOT_AFFECTED"),
        # a package product: that package wherever it is in the image
        ("pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1", "CVE-2024-6119", "AFFECTED"),
        # the image by reference: all of it, under the vulnerability's name and its alias
        ("", "CVE-2024-35195", "NOT_AFFECTED"),
        ("", "GHSA-9wx4-h78v-vm56", "NOT_AFFECTED"),
        # log4j's statement is about the canary image's digest: left out
    ]


def test_a_note_carries_the_statement_and_the_document():
    plan = ingest("openvex", FIXTURE)
    [note] = [
        n for n in plan.notes.values() if "NOT_AFFECTED" in n["shortDescription"] and "1471" in n["shortDescription"]
    ]
    assert note == {
        "shortDescription": "CVE-2022-1471 in pkg:maven/org.yaml/snakeyaml@1.33: NOT_AFFECTED",
        "vulnerabilityAssessment": {
            "title": "https://vex.payments.example.com/api/2024-12-02",
            "publisher": {
                "name": "Payments Security <security@payments.example.com>",
                "issuingAuthority": "Document Creator",
            },
            "product": {
                "name": f"pkg:maven/org.yaml/snakeyaml@1.33 in {IMAGE}",
                "id": "pkg:maven/org.yaml/snakeyaml@1.33",
                "genericUri": IMAGE,
            },
            "assessment": {
                "vulnerabilityId": "CVE-2022-1471",
                "shortDescription": "SnakeYaml's Constructor can instantiate arbitrary types when loading "
                "untrusted YAML.",
                "relatedUris": [{"url": "https://nvd.nist.gov/vuln/detail/CVE-2022-1471"}],
                "state": "NOT_AFFECTED",
                "justification": {
                    "justificationType": "VULNERABLE_CODE_NOT_IN_EXECUTE_PATH",
                    "details": "The service only loads its own bundled configuration through SafeConstructor; "
                    "no untrusted YAML reaches SnakeYaml.",
                },
            },
        },
    }
    [affected] = [n for n in plan.notes.values() if "CVE-2024-6119" in n["shortDescription"]]
    assert affected["vulnerabilityAssessment"]["assessment"]["remediations"] == [
        {"details": "Upgrade libcrypto3 to 3.1.7-r0 or later."}
    ]
    [investigating] = [n for n in plan.notes.values() if "UNDER_INVESTIGATION" in n["shortDescription"]]
    assert investigating["longDescription"] == "Checking whether any endpoint parses client-supplied YAML."
    assert investigating["vulnerabilityAssessment"]["assessment"]["longDescription"] == investigating["longDescription"]


def test_the_later_statement_is_the_one_copied_onto_the_finding():
    finding = {
        "resourceUri": IMAGE,
        "noteName": "projects/vulnz/notes/CVE-2022-1471",
        "vulnerability": {
            "packageIssue": [{"affectedCpeUri": "pkg:maven/org.yaml/snakeyaml", "affectedVersion": {"name": "1.33"}}]
        },
    }
    notes = ingest("openvex", FIXTURE).notes
    assert assessed(finding, assessment_notes(notes))["vulnerability"]["vexAssessment"]["state"] == "NOT_AFFECTED"
    written_first = json.loads(raw(FIXTURE))
    written_first["statements"][1]["timestamp"] = "2024-12-01T17:00:00Z"  # investigating again, after
    notes = ingest("openvex", json.dumps(written_first).encode()).notes
    assert assessed(finding, assessment_notes(notes))["vulnerability"]["vexAssessment"]["state"] == (
        "UNDER_INVESTIGATION"
    )


@pytest.mark.parametrize(
    "product",
    [
        {"@id": f"pkg:oci/api@sha256%3A{DIGEST}"},
        {"@id": f"pkg:oci/api@sha256:{DIGEST}?repository_url=registry.example.com/payments"},
        {"identifiers": {"purl": f"pkg:docker/payments/api@sha256%3A{DIGEST}"}},
        {"@id": f"registry.example.com/payments/api@sha256:{DIGEST}"},
        {"@id": f"https://registry.example.com/payments/api@sha256:{DIGEST}"},
        {"@id": "registry.example.com/payments/api:1.4", "hashes": {"sha-256": DIGEST.upper()}},
        f"pkg:oci/api@sha256%3A{DIGEST}",  # the drafts before v0.2.0 wrote products as strings
    ],
)
def test_a_product_naming_the_images_digest_is_the_image(product):
    assert assessments(document(statement(product))) == [("", "CVE-2024-1", "NOT_AFFECTED")]


@pytest.mark.parametrize(
    "product",
    [
        {"@id": f"pkg:oci/api@sha256%3A{OTHER}"},
        {"@id": f"registry.example.com/payments/api@sha256:{OTHER}"},
        {"@id": "registry.example.com/payments/api:1.4"},  # a tag may point anywhere
        {"@id": "pkg:oci/api?tag=latest"},
        {"@id": "payments-api"},
        {"hashes": {"sha-256": OTHER}},
        {"@id": "pkg:pypi/requests@2.31.0", "subcomponents": [{"@id": "pkg:pypi/urllib3@2.0.7"}]},
    ],
)
def test_a_statement_about_anything_else_is_left_out(product):
    mine = statement({"@id": f"pkg:oci/api@sha256%3A{DIGEST}"}, cve="CVE-2024-2")
    assert assessments(document(statement(product), mine)) == [("", "CVE-2024-2", "NOT_AFFECTED")]


@pytest.mark.parametrize(
    "product, package",
    [
        ({"@id": "pkg:pypi/requests@2.31.0"}, "pkg:pypi/requests@2.31.0"),
        ({"identifiers": {"purl": "pkg:pypi/requests@2.31.0"}}, "pkg:pypi/requests@2.31.0"),
        (
            {"identifiers": {"cpe23": "cpe:2.3:a:python:requests:2.31.0:*:*:*:*:*:*:*"}},
            "cpe:2.3:a:python:requests:2.31.0:*:*:*:*:*:*:*",
        ),
        ({"identifiers": {"@cpe22": "cpe:/a:python:requests:2.31.0"}}, "cpe:/a:python:requests:2.31.0"),
        # a package's own hash does not make it another artifact
        ({"@id": "pkg:pypi/requests@2.31.0", "hashes": {"sha-256": OTHER}}, "pkg:pypi/requests@2.31.0"),
    ],
)
def test_a_package_product_is_that_package_in_the_image(product, package):
    assert assessments(document(statement(product))) == [(package, "CVE-2024-1", "NOT_AFFECTED")]


def test_subcomponents_limit_the_image_to_those_packages():
    image = {
        "@id": f"pkg:oci/api@sha256%3A{DIGEST}",
        "subcomponents": [{"@id": "pkg:pypi/requests@2.31.0"}, {"identifiers": {"purl": "pkg:pypi/urllib3@2.0.7"}}],
    }
    assert assessments(document(statement(image))) == [
        ("pkg:pypi/requests@2.31.0", "CVE-2024-1", "NOT_AFFECTED"),
        ("pkg:pypi/urllib3@2.0.7", "CVE-2024-1", "NOT_AFFECTED"),
    ]
    # The drafts listed them beside the products.
    draft = statement(f"pkg:oci/api@sha256%3A{DIGEST}", subcomponents=["pkg:pypi/requests@2.31.0"])
    draft["vulnerability"] = "CVE-2024-1"
    assert assessments(document(draft, **{"@context": "https://openvex.dev/ns"})) == [
        ("pkg:pypi/requests@2.31.0", "CVE-2024-1", "NOT_AFFECTED")
    ]


def test_a_subcomponent_that_names_no_package_is_refused():
    """Read as the whole image, it would clear findings in every other package."""
    image = {"@id": f"pkg:oci/api@sha256%3A{DIGEST}", "subcomponents": [{"hashes": {"sha-256": OTHER}}]}
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", document(statement(image)))
    assert caught.value.message == (
        "invalid openvex report: statements[0].products[0].subcomponents[0]: names no package by purl or CPE: "
        "the assessment cannot be limited to it"
    )


def test_a_statement_without_products_is_about_the_image_it_was_posted_for():
    assert assessments(document(statement())) == [("", "CVE-2024-1", "NOT_AFFECTED")]


def test_a_jar_is_matched_by_its_hash():
    jar = f"https://repo.example.com/payments-api-1.4.jar#sha256={DIGEST}"
    product = {"@id": "pkg:maven/com.example/payments-api@1.4", "hashes": {"sha-256": DIGEST}}
    assert assessments(document(statement(product)), resource_uri=jar) == [("", "CVE-2024-1", "NOT_AFFECTED")]


def test_posting_the_same_document_again_plans_the_same_notes_and_a_changed_statement_a_new_one():
    first = ingest("openvex", FIXTURE).notes
    assert ingest("openvex", FIXTURE).notes == first
    changed = json.loads(raw(FIXTURE))
    changed["statements"][2]["status"] = "fixed"
    changed["statements"][2].pop("action_statement")
    again = ingest("openvex", json.dumps(changed).encode()).notes
    assert len(set(again) - set(first)) == 1 and len(set(first) - set(again)) == 1


def test_a_document_with_nothing_about_the_image_is_refused():
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", document(statement({"@id": f"pkg:oci/api@sha256%3A{OTHER}"})))
    assert caught.value.message == (
        f"invalid openvex report: statements: none is about {IMAGE!r}: a product must name its digest (a pkg:oci "
        "purl, an image reference or hashes['sha-256']) or a package in it (a purl or CPE)"
    )


def test_the_image_must_be_named_by_digest():
    tag = "https://registry.example.com/payments/api:1.4"
    assert refusal("openvex", FIXTURE, tag).startswith("resourceUri must name the artifact's digest")


@pytest.mark.parametrize(
    "doc, message",
    [
        (document(statement(), **{"@context": "https://cyclonedx.org"}), "@context: expected an OpenVEX context"),
        (document(), "statements: is empty: the document states nothing"),
        (document({"status": "fixed"}), "statements[0].vulnerability: is required"),
        (document({"vulnerability": {"name": "CVE-1"}}), "statements[0].status: is required"),
        (document(statement(status="gone")), "statements[0].status: unknown value 'gone'"),
        (document(statement(justification="trust_me")), "statements[0].justification: unknown value 'trust_me'"),
        (document(statement(timestamp="yesterday")), "statements[0].timestamp:"),
        (document({"vulnerability": {}, "status": "fixed"}), "statements[0].vulnerability.name: is required"),
        (document(statement(products={"@id": "x"})), "statements[0].products: expected a list, got an object"),
        (
            document({"vulnerability": {"name": "CVE-1"}, "status": "fixed", "products": [1]}),
            "statements[0].products[0]: expected an object, got",
        ),
    ],
)
def test_a_malformed_document_is_refused_with_the_place(doc, message):
    assert message in refusal("openvex", doc)


def attested(predicate: bytes, subject_digest: str = DIGEST, wrap: str = "statement") -> bytes:
    """An OpenVEX document as the predicate of an in-toto statement, bare, in a DSSE envelope, or in a bundle."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.com/payments/api", "digest": {"sha256": subject_digest}}],
        "predicateType": "https://openvex.dev/ns/v0.2.0",
        "predicate": json.loads(predicate),
    }
    if wrap == "statement":
        return json.dumps(statement).encode()
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    envelope = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": payload,
        "signatures": [{"keyid": "", "sig": base64.b64encode(b"not checked here").decode()}],
    }
    return json.dumps({"dsseEnvelope": envelope} if wrap == "bundle" else envelope).encode()


@pytest.mark.parametrize("wrap", ["statement", "envelope", "bundle"])
def test_an_attested_document_is_read_and_its_subject_is_what_statements_without_products_are_about(wrap):
    doc = document(statement(), statement({"@id": "pkg:pypi/requests@2.31.0"}, cve="CVE-2024-2"))
    assert assessments(attested(doc, wrap=wrap)) == [
        ("", "CVE-2024-1", "NOT_AFFECTED"),
        ("pkg:pypi/requests@2.31.0", "CVE-2024-2", "NOT_AFFECTED"),
    ]
    # Attesting another image, both statements are about that one: requests there, not here.
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", attested(doc, subject_digest=OTHER, wrap=wrap))
    assert f"the attestation's subjects (sha256:{OTHER}) do not include its digest" in caught.value.message
    # Only a product naming this image's digest is about it.
    here = document(statement({"@id": f"pkg:oci/api@sha256:{DIGEST}"}), statement({"@id": "pkg:pypi/requests"}))
    assert assessments(attested(here, subject_digest=OTHER, wrap=wrap)) == [("", "CVE-2024-1", "NOT_AFFECTED")]


@pytest.mark.parametrize(
    "wrap, where", [("statement", ""), ("envelope", "payload."), ("bundle", "dsseEnvelope.payload.")]
)
def test_errors_in_an_attested_document_point_into_its_predicate(wrap, where):
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", attested(document({"vulnerability": {"name": "CVE-1"}}), wrap=wrap))
    assert caught.value.message == f"invalid openvex report: {where}predicate.statements[0].status: is required"
    provenance = json.loads(attested(document(statement())))
    provenance["predicateType"] = "https://slsa.dev/provenance/v1"
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", json.dumps(provenance).encode())
    assert caught.value.message == (
        "invalid openvex report: predicateType: expected an OpenVEX predicate (https://openvex.dev/ns/...), "
        "got 'https://slsa.dev/provenance/v1'"
    )


def test_a_document_planning_more_assessments_than_one_ingestion_stores_is_refused(monkeypatch):
    """One statement makes a note per package and name: 600 KB could ask for millions, all stored in one
    transaction. The count is checked as they are planned (20,000 in production)."""
    from grafeas_py.ingest import plan

    monkeypatch.setattr(plan, "MAX_ASSESSMENTS", 5)
    subcomponents = [{"@id": f"pkg:npm/p{i}@1.0"} for i in range(3)]
    image = {"@id": f"pkg:oci/api@sha256%3A{DIGEST}", "subcomponents": subcomponents}
    aliased = statement(image, status="fixed")
    aliased["vulnerability"]["aliases"] = ["GHSA-1"]
    with pytest.raises(InvalidArgument) as caught:
        ingest("openvex", document(aliased))
    assert caught.value.message == (
        "invalid openvex report: statements: more than 5 assessments (one per package and vulnerability named) "
        "for one artifact; split the document"
    )
    aliased["vulnerability"]["aliases"] = []
    assert len(assessments(document(aliased))) == 3
