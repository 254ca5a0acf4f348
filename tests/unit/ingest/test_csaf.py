"""CSAF VEX documents: which product statuses are about the artifact, and the assessment notes they become."""

from __future__ import annotations

import json

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest.vex import assessed, assessment_notes

from .support import DIGEST, IMAGE, ingest, refusal, vex_assessments

FIXTURE = "csaf/payments-api.csaf.json"
OTHER = "9e8d7c6b5a49382716059f8e7d6c5b4a39281706f5e4d3c2b1a0998877665544"
IMAGE_PURL = f"pkg:oci/api@sha256%3A{DIGEST}"


def product(product_id: str, **helper) -> dict:
    return {"product_id": product_id, "name": product_id, "product_identification_helper": helper}


def document(*vulnerabilities: dict, products=(), relationships=(), groups=()) -> bytes:
    doc = {
        "document": {
            "category": "csaf_vex",
            "csaf_version": "2.0",
            "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example.com"},
            "title": "VEX",
            "tracking": {"id": "1", "status": "final", "version": "1"},
        },
        "product_tree": {
            "full_product_names": [product("IMAGE", purl=IMAGE_PURL), *products],
            "relationships": list(relationships),
            "product_groups": list(groups),
        },
        "vulnerabilities": list(vulnerabilities),
    }
    return json.dumps(doc).encode()


def vulnerability(*product_ids: str, status: str = "known_not_affected", cve: str = "CVE-2024-1", **fields) -> dict:
    return {"cve": cve, "product_status": {status: list(product_ids)}, **fields}


def component_of(product_id: str, component: str, container: str, category: str = "default_component_of") -> dict:
    return {
        "category": category,
        "full_product_name": {"product_id": product_id, "name": product_id},
        "product_reference": component,
        "relates_to_product_reference": container,
    }


def assessments(source, resource_uri: str = IMAGE) -> list[tuple[str, str, str]]:
    return vex_assessments("csaf", source, resource_uri)


def test_the_statuses_about_the_image_become_notes():
    assert assessments(FIXTURE) == [
        ("pkg:maven/org.yaml/snakeyaml@1.33", "CVE-2022-1471", "NOT_AFFECTED"),  # a component of the image
        ("pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1", "CVE-2024-6119", "AFFECTED"),  # a package
        ("", "CVE-2024-35195", "NOT_AFFECTED"),  # the image itself, under its CVE and its GHSA id
        ("", "GHSA-9wx4-h78v-vm56", "NOT_AFFECTED"),
        # log4j's statuses are about payments-api 1.3, another digest: left out
    ]


def test_a_note_carries_the_flag_threat_remediation_and_publisher_of_its_product():
    notes = list(ingest("csaf", FIXTURE).notes.values())
    assert notes[0]["vulnerabilityAssessment"] == {
        "title": "VEX for payments-api 1.4",
        "publisher": {
            "name": "Payments Security",
            "issuingAuthority": "The payments platform team, for the images it builds.",
            "publisherNamespace": "https://payments.example.com",
        },
        "product": {
            "name": f"pkg:maven/org.yaml/snakeyaml@1.33 in {IMAGE}",
            "id": "pkg:maven/org.yaml/snakeyaml@1.33",
            "genericUri": IMAGE,
        },
        "assessment": {
            "vulnerabilityId": "CVE-2022-1471",
            "shortDescription": "SnakeYaml Constructor deserialization",
            "longDescription": "SnakeYaml's Constructor can instantiate arbitrary types when loading untrusted YAML.",
            "state": "NOT_AFFECTED",
            "justification": {
                "justificationType": "VULNERABLE_CODE_NOT_IN_EXECUTE_PATH",
                "details": "The service only loads its own bundled configuration through SafeConstructor.",
            },
        },
    }
    assert notes[1]["vulnerabilityAssessment"]["assessment"]["remediations"] == [
        {
            "remediationType": "VENDOR_FIX",
            "details": "Upgrade libcrypto3 to 3.1.7-r0 or later.",
            "remediationUri": {"url": "https://security.alpinelinux.org/vuln/CVE-2024-6119"},
        }
    ]
    # The flag names a product group holding the image.
    assert notes[2]["vulnerabilityAssessment"]["assessment"]["justification"] == {
        "justificationType": "VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY"
    }


def test_the_assessment_is_copied_onto_the_finding_in_its_package():
    notes = assessment_notes(ingest("csaf", FIXTURE).notes)
    finding = {
        "resourceUri": IMAGE,
        "noteName": "projects/vulnz/notes/CVE-2022-1471",
        "vulnerability": {
            "packageIssue": [{"affectedCpeUri": "pkg:maven/org.yaml/snakeyaml", "affectedVersion": {"name": "1.33"}}]
        },
    }
    assert assessed(finding, notes)["vulnerability"]["vexAssessment"]["state"] == "NOT_AFFECTED"
    elsewhere = {
        **finding,
        "vulnerability": {
            "packageIssue": [{"affectedCpeUri": "pkg:maven/org.yaml/snakeyaml", "affectedVersion": {"name": "1.30"}}]
        },
    }
    assert assessed(elsewhere, notes) is None


@pytest.mark.parametrize(
    "status, state",
    [
        ("known_not_affected", "NOT_AFFECTED"),
        ("known_affected", "AFFECTED"),
        ("first_affected", "AFFECTED"),
        ("last_affected", "AFFECTED"),
        ("fixed", "FIXED"),
        ("first_fixed", "FIXED"),
        ("under_investigation", "UNDER_INVESTIGATION"),
    ],
)
def test_each_product_status_gives_its_state(status, state):
    assert assessments(document(vulnerability("IMAGE", status=status))) == [("", "CVE-2024-1", state)]


def test_recommended_says_nothing_of_the_vulnerability():
    doc = document(vulnerability("IMAGE", status="recommended"), vulnerability("IMAGE", cve="CVE-2024-2"))
    assert assessments(doc) == [("", "CVE-2024-2", "NOT_AFFECTED")]


@pytest.mark.parametrize(
    "helper",
    [
        {"purl": f"pkg:oci/api@sha256:{DIGEST}"},
        {
            "x_generic_uris": [
                {"namespace": "https://oci.example.com", "uri": f"registry.example.com/payments/api@sha256:{DIGEST}"}
            ]
        },
        {"hashes": [{"filename": "manifest.json", "file_hashes": [{"algorithm": "sha256", "value": DIGEST}]}]},
        {
            "hashes": [
                {
                    "filename": "m",
                    "file_hashes": [
                        {"algorithm": "sha512", "value": "0" * 128},
                        {"algorithm": "SHA256", "value": DIGEST.upper()},
                    ],
                }
            ]
        },
    ],
)
def test_a_product_naming_the_images_digest_is_the_image(helper):
    doc = document(vulnerability("ME"), products=[product("ME", **helper)])
    assert assessments(doc) == [("", "CVE-2024-1", "NOT_AFFECTED")]


@pytest.mark.parametrize(
    "helper",
    [
        {"purl": f"pkg:oci/api@sha256%3A{OTHER}"},
        {"hashes": [{"filename": "m", "file_hashes": [{"algorithm": "sha256", "value": OTHER}]}]},
        {"x_generic_uris": [{"namespace": "https://oci.example.com", "uri": "registry.example.com/payments/api:1.4"}]},
        {"hashes": [{"filename": "m", "file_hashes": [{"algorithm": "sha3-256", "value": DIGEST}]}]},
        {},
    ],
)
def test_any_other_product_is_left_out(helper):
    doc = document(
        vulnerability("THEM"), vulnerability("IMAGE", cve="CVE-2024-2"), products=[product("THEM", **helper)]
    )
    assert assessments(doc) == [("", "CVE-2024-2", "NOT_AFFECTED")]


def test_a_package_product_is_that_package_in_the_image():
    products = [product("REQ", purl="pkg:pypi/requests@2.31.0"), product("SSL", cpe="cpe:/a:openssl:openssl:3.1.4")]
    assert assessments(document(vulnerability("REQ", "SSL"), products=products)) == [
        ("pkg:pypi/requests@2.31.0", "CVE-2024-1", "NOT_AFFECTED"),
        ("cpe:/a:openssl:openssl:3.1.4", "CVE-2024-1", "NOT_AFFECTED"),
    ]


@pytest.mark.parametrize(
    "relationship, expected",
    [
        (component_of("REQ-IN-IMAGE", "REQ", "IMAGE"), [("pkg:pypi/requests@2.31.0", "CVE-2024-1", "NOT_AFFECTED")]),
        (
            component_of("REQ-IN-IMAGE", "REQ", "IMAGE", "optional_component_of"),
            [("pkg:pypi/requests@2.31.0", "CVE-2024-1", "NOT_AFFECTED")],
        ),
        (component_of("REQ-IN-IMAGE", "REQ", "CANARY"), []),  # in another image
        (component_of("REQ-IN-IMAGE", "REQ", "APP"), []),  # in a package: findings do not say what holds theirs
        (component_of("REQ-IN-IMAGE", "REQ", "IMAGE", "installed_on"), []),  # beside the image, not in it
    ],
)
def test_a_component_is_its_package_only_in_the_image(relationship, expected):
    products = [
        product("REQ", purl="pkg:pypi/requests@2.31.0"),
        product("CANARY", purl=f"pkg:oci/api-canary@sha256%3A{OTHER}"),
        product("APP", purl="pkg:pypi/app@1.0"),
    ]
    doc = document(
        vulnerability("REQ-IN-IMAGE"),
        vulnerability("IMAGE", cve="CVE-2024-2"),
        products=products,
        relationships=[relationship],
    )
    assert assessments(doc) == [*expected, ("", "CVE-2024-2", "NOT_AFFECTED")]


def test_a_component_of_the_image_that_names_no_package_is_refused():
    """Read as the whole image, an assessment of one unknown part would clear findings in every other."""
    doc = document(
        vulnerability("PART-IN-IMAGE"),
        products=[product("PART")],
        relationships=[component_of("PART-IN-IMAGE", "PART", "IMAGE")],
    )
    with pytest.raises(InvalidArgument) as caught:
        ingest("csaf", doc)
    assert caught.value.message == (
        "invalid csaf report: product_tree.relationships[0].product_reference: 'PART' names no package by purl or CPE"
    )


def test_flags_threats_and_remediations_apply_to_the_products_and_groups_they_name():
    products = [product("REQ", purl="pkg:pypi/requests@2.31.0")]
    entry = vulnerability(
        "IMAGE",
        "REQ",
        flags=[{"label": "component_not_present", "group_ids": ["G"]}],
        threats=[
            {"category": "impact", "details": "Only REQ's.", "product_ids": ["REQ"]},
            {"category": "exploit_status", "details": "Not an impact.", "product_ids": ["REQ", "IMAGE"]},
        ],
        remediations=[{"category": "workaround", "details": "Turn it off.", "product_ids": ["IMAGE"]}],
    )
    notes = list(
        ingest(
            "csaf", document(entry, products=products, groups=[{"group_id": "G", "product_ids": ["REQ"]}])
        ).notes.values()
    )
    image, req = (note["vulnerabilityAssessment"]["assessment"] for note in notes)
    assert "justification" not in image and image["remediations"] == [
        {"remediationType": "WORKAROUND", "details": "Turn it off."}
    ]
    assert req["justification"] == {"justificationType": "COMPONENT_NOT_PRESENT", "details": "Only REQ's."}
    assert "remediations" not in req


def test_posting_the_same_document_again_plans_the_same_notes():
    assert ingest("csaf", FIXTURE).notes == ingest("csaf", FIXTURE).notes


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            document(vulnerability("OTHER-ID")),
            "vulnerabilities[0].product_status.known_not_affected[0]: no product 'OTHER-ID'",
        ),
        (
            document({"product_status": {"fixed": ["IMAGE"]}}),
            "vulnerabilities[0]: names no vulnerability: it has neither cve nor ids",
        ),
        (
            document(
                vulnerability(
                    "IMAGE", status="known_not_affected", flags=[{"label": "trust_me", "product_ids": ["IMAGE"]}]
                )
            ),
            "vulnerabilities[0].flags[0].label: unknown value 'trust_me'",
        ),
        (b'{"document": {"category": "csaf_vex"}, "vulnerabilities": []}', "document.csaf_version: is required"),
        (b'{"document": {"csaf_version": null}, "vulnerabilities": []}', "document.csaf_version: is required"),
        (b'{"document": {"csaf_version": "1.2"}, "vulnerabilities": []}', "document.csaf_version: unknown value '1.2'"),
        (b'{"document": {"csaf_version": "2.0"}}', "vulnerabilities: is required"),
        (document(), "vulnerabilities: no product status is about"),
        (
            document(vulnerability("CANARY"), products=[product("CANARY", purl=f"pkg:oci/x@sha256%3A{OTHER}")]),
            "vulnerabilities: no product status is about",
        ),
    ],
)
def test_a_malformed_document_is_refused_with_the_place(doc, message):
    assert message in refusal("csaf", doc)


def test_the_image_must_be_named_by_digest():
    tag = "https://registry.example.com/payments/api:1.4"
    assert refusal("csaf", FIXTURE, tag).startswith("resourceUri must name the artifact's digest")


def test_items_naming_products_more_often_than_one_document_may_are_refused(monkeypatch):
    """A group of n products named by m flags makes notes carrying n x m of them: 480 KB took 2.9 s and
    grew as the cube. The names are counted, groups by their size, before any note is made."""
    from grafeas_py.ingest import csaf

    monkeypatch.setattr(csaf, "MAX_REFERENCES", 5)
    products = [product(f"P{i}", purl=f"pkg:npm/p{i}@1.0") for i in range(3)]
    groups = [{"group_id": "G", "product_ids": ["P0", "P1", "P2"]}]
    flags = [{"label": "component_not_present", "group_ids": ["G"]}] * 2
    entry = vulnerability("P0", "P1", "P2", flags=flags)
    with pytest.raises(InvalidArgument) as caught:
        ingest("csaf", document(entry, products=products, groups=groups))
    assert caught.value.message == (
        "invalid csaf report: vulnerabilities[0].flags[1]: the document's flags, threats and remediations name "
        "products more than 5 times (a group counts each of its products); split the document"
    )
    assert (
        len(assessments(document(vulnerability("P0", "P1", "P2", flags=flags[:1]), products=products, groups=groups)))
        == 3
    )


def test_an_item_naming_an_unknown_product_group_is_refused():
    entry = vulnerability("IMAGE", remediations=[{"category": "workaround", "details": "x", "group_ids": ["NOPE"]}])
    with pytest.raises(
        InvalidArgument, match=r"vulnerabilities\[0\]\.remediations\[0\]\.group_ids\[0\]: no product group 'NOPE'"
    ):
        ingest("csaf", document(entry))


def branch(category: str, name: str, *inner: dict, **fields) -> dict:
    return {"category": category, "name": name, **({"branches": list(inner)} if inner else {}), **fields}


def lodash_ranges(*vulnerabilities: dict, relationships=()) -> bytes:
    """An advisory's usual tree: lodash below 4.17.21 affected, from it fixed, each a version range."""
    ranges = [
        branch("product_version_range", f"vers:npm/{vers}", product=product(product_id, purl="pkg:npm/lodash"))
        for vers, product_id in (("<4.17.21", "LODASH-OLD"), (">=4.17.21", "LODASH-NEW"))
    ]
    doc = json.loads(document(*vulnerabilities, relationships=relationships))
    doc["product_tree"]["branches"] = [branch("vendor", "lodash", branch("product_name", "lodash", *ranges))]
    return json.dumps(doc).encode()


def test_a_product_version_range_is_left_out():
    """Read as its versionless purl, "fixed" for >=4.17.21 cleared the finding in lodash 4.17.20."""
    fixed = vulnerability("LODASH-NEW", status="fixed", cve="CVE-2021-23337")
    with pytest.raises(InvalidArgument) as caught:
        ingest("csaf", lodash_ranges(fixed))
    assert caught.value.message.endswith(", and not be a product_version_range, which is left out")
    both = {"cve": "CVE-2021-23337", "product_status": {"known_affected": ["LODASH-OLD"], "fixed": ["LODASH-NEW"]}}
    with pytest.raises(InvalidArgument, match="product_version_range"):
        ingest("csaf", lodash_ranges(both))
    # So is a component of the image that is a range; the rest of the document still counts.
    doc = lodash_ranges(
        vulnerability("LODASH-NEW-IN-IMAGE", status="fixed", cve="CVE-2021-23337"),
        vulnerability("IMAGE", cve="CVE-2024-2"),
        relationships=[component_of("LODASH-NEW-IN-IMAGE", "LODASH-NEW", "IMAGE")],
    )
    assert assessments(doc) == [("", "CVE-2024-2", "NOT_AFFECTED")]


def test_a_product_version_branch_is_that_version():
    doc = json.loads(document(vulnerability("LODASH-4.17.20", status="fixed", cve="CVE-2021-23337")))
    exact = product("LODASH-4.17.20", purl="pkg:npm/lodash@4.17.20")
    doc["product_tree"]["branches"] = [
        branch("product_name", "lodash", branch("product_version", "4.17.20", product=exact))
    ]
    assert assessments(json.dumps(doc).encode()) == [("pkg:npm/lodash@4.17.20", "CVE-2021-23337", "FIXED")]
