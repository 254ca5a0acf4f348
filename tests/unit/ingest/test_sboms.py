"""SPDX and CycloneDX: the SBOM reference, one package per component, and CycloneDX VEX."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest import cyclonedx

from .support import DIGEST, IMAGE, assert_valid_grafeas, details, ingest, note_name, raw
from .test_fixture_schemas import _validator


def _packages(plan) -> dict[str, dict]:
    return {p["name"]: p for p in details(plan, "package")}


def test_spdx_reference_points_at_the_document_and_the_artifact():
    plan = ingest("spdx", "spdx/payments-api.spdx.json")
    assert plan.notes[note_name("sbom-spdx-2-3")] == {"sbomReference": {"format": "spdx", "version": "2.3"}}
    [reference] = details(plan, "sbomReference")
    assert reference["payloadType"] == "application/vnd.in-toto+json"
    assert reference["payload"] == {
        "type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://bcid.corp.google.com/reference/v0.1",
        "subject": [{"name": IMAGE, "digest": {"sha256": DIGEST}}],
        "predicate": {
            "referrerId": "grafeas-py",
            "mimeType": "application/spdx+json",
            "digest": {"sha256": hashlib.sha256(raw("spdx/payments-api.spdx.json")).hexdigest()},
        },
    }


def test_spdx_packages_carry_version_location_and_licence():
    packages = _packages(ingest("spdx", "spdx/payments-api.spdx.json"))
    # The image the document DESCRIBES is the resource itself, not a package in it.
    assert set(packages) == {
        "busybox",
        "libcrypto3",
        "log4j-core",
        "requests",
        "ca-certificates-bundle",
        "payments-internal-lib",
    }
    log4j = packages["log4j-core"]
    assert log4j["location"] == [
        {
            "cpeUri": "pkg:maven/org.apache.logging.log4j/log4j-core",
            "version": {"name": "2.14.1", "kind": "NORMAL", "fullName": "2.14.1"},
        }
    ]
    assert log4j["packageType"] == "MAVEN" and log4j["license"] == {"expression": "Apache-2.0"}
    assert packages["busybox"]["packageType"] == "OS"
    assert packages["busybox"]["license"] == {"expression": "GPL-2.0-only"}  # declared, concluded is NOASSERTION
    assert packages["ca-certificates-bundle"]["license"] == {"expression": "MPL-2.0 AND MIT"}
    internal = packages["payments-internal-lib"]
    assert internal["location"] == [{"cpeUri": "pkg:generic/payments-internal-lib"}] and "version" not in internal


def test_spdx_package_notes_are_per_name():
    plan = ingest("spdx", "spdx/payments-api.spdx.json")
    assert plan.notes[note_name("log4j-core")] == {"package": {"name": "log4j-core"}}


def test_spdx_2_2_reads_the_same_way():
    doc = json.loads(raw("spdx/payments-api.spdx.json"))
    doc["spdxVersion"] = "SPDX-2.2"
    doc["packages"][4]["externalRefs"][0]["referenceCategory"] = "PACKAGE_MANAGER"
    plan = ingest("spdx", json.dumps(doc).encode())
    assert note_name("sbom-spdx-2-2") in plan.notes
    assert _packages(plan)["requests"]["cpeUri"] == "pkg:pypi/requests"


def test_a_document_without_spdx_version_is_not_spdx():
    with pytest.raises(InvalidArgument, match="spdxVersion: is required"):
        ingest("spdx", "cyclonedx/payments-api-1.5.cdx.json")


def test_cyclonedx_components_nested_ones_included():
    plan = ingest("cyclonedx", "cyclonedx/payments-api-1.5.cdx.json")
    packages = _packages(plan)
    assert set(packages) == {
        "busybox",
        "ca-certificates-bundle",
        "org.apache.logging.log4j/log4j-core",
        "@babel/core",
        "requests",
        "urllib3",
        "alpine",
    }
    assert packages["urllib3"]["version"]["name"] == "1.26.18"
    assert packages["@babel/core"]["cpeUri"] == "pkg:npm/%40babel/core"
    assert packages["ca-certificates-bundle"]["license"] == {"expression": "MPL-2.0 AND MIT"}
    assert packages["requests"]["license"] == {"comments": "Apache License 2.0 (custom header)"}
    assert note_name("sbom-cyclonedx-1-5") in plan.notes
    [reference] = details(plan, "sbomReference")
    assert reference["payload"]["predicate"]["mimeType"] == "application/vnd.cyclonedx+json"


@pytest.mark.parametrize(
    "purl, location",
    [
        ("pkg:npm/%40babel/core@7.22.0", "pkg:npm/%40babel/core"),
        # The spec asks for %40, but many SBOMs write the scope's @ bare: only the last @ starts the version.
        ("pkg:npm/@babel/core@7.22.0", "pkg:npm/@babel/core"),
        ("pkg:npm/@babel/core", "pkg:npm/@babel/core"),
        ("pkg:npm/@babel/core@7.22.0?repository_url=r.example.com", "pkg:npm/@babel/core?repository_url=r.example.com"),
    ],
)
def test_a_scoped_npm_package_is_located_by_its_name_however_its_at_is_written(purl, location):
    component = {"type": "library", "group": "@babel", "name": "core", "version": "7.22.0", "purl": purl}
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]}
    [package] = details(ingest("cyclonedx", json.dumps(doc).encode()), "package")
    assert package["name"] == "@babel/core" and package["cpeUri"] == location


def test_cyclonedx_1_7_reads_as_1_6_does():
    """1.7 (October 2025) adds members this mapping does not read; what it reads is as in 1.6."""
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    newer = ingest("cyclonedx", json.dumps({**doc, "specVersion": "1.7"}).encode())
    plan = ingest("cyclonedx", json.dumps(doc).encode())
    assert [o.body for o in newer.occurrences if "package" in o.body] == [
        o.body for o in plan.occurrences if "package" in o.body
    ]
    assert set(newer.notes) - {note_name("sbom-cyclonedx-1-7")} == set(plan.notes) - {note_name("sbom-cyclonedx-1-6")}
    assert newer.notes[note_name("sbom-cyclonedx-1-7")] == {"sbomReference": {"format": "cyclonedx", "version": "1.7"}}


def test_cyclonedx_package_notes_keep_look_alike_names_apart():
    plan = ingest("cyclonedx", "cyclonedx/payments-api-1.5.cdx.json")
    babel = [name for name in plan.notes if "babel" in name]
    assert len(babel) == 1 and babel[0].startswith(note_name("babel-core-"))
    assert plan.notes[babel[0]] == {"package": {"name": "@babel/core"}}


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_nested_components_are_walked_in_document_order_with_a_flat_stack():
    """Each level of a recursive walk was one more frame for every component below it to pass through:
    a 27 MB BOM of 500 nested components and a million leaves took most of a minute."""
    depth = 450  # as deep as JSON parsing allows, and deeper than the stack the walk is given below
    opening = "".join(
        f'{{"type":"library","name":"n{d}","components":[{{"type":"library","name":"leaf{d}"}},' for d in range(depth)
    )
    raw_bom = (
        '{"bomFormat":"CycloneDX","specVersion":"1.6","components":[' + opening + '{"type":"library","name":"last"}'
    )
    raw_bom += "]}" * depth + "]}"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 100)  # a walk that recurses per level runs out of stack
    try:
        plan = ingest("cyclonedx", raw_bom.encode())
    finally:
        sys.setrecursionlimit(limit)
    names = [p["name"] for p in details(plan, "package")]
    # Each component before the ones it nests, siblings in document order.
    assert names == [name for d in range(depth) for name in (f"n{d}", f"leaf{d}")] + ["last"]


def test_a_package_listed_twice_under_other_licences_is_under_all_of_them():
    """The first copy alone was kept: an AGPL copy of log4j-core listed second passed a deny on AGPL."""
    doc = json.loads(raw("spdx/payments-api.spdx.json"))
    [log4j] = [p for p in doc["packages"] if p["name"] == "log4j-core"]
    doc["packages"] += [
        {**log4j, "SPDXID": "SPDXRef-copy", "licenseConcluded": "AGPL-3.0-only", "licenseDeclared": "AGPL-3.0-only"},
        {**log4j, "SPDXID": "SPDXRef-again"},  # the same again adds nothing
    ]
    [occurrence] = [
        o
        for o in ingest("spdx", json.dumps(doc).encode()).occurrences
        if o.body.get("package", {}).get("name") == "log4j-core"
    ]
    assert occurrence.body["package"]["license"] == {"expression": "Apache-2.0 AND AGPL-3.0-only"}


def test_cyclonedx_1_6_skips_files_and_joins_licences():
    packages = _packages(ingest("cyclonedx", "cyclonedx/payments-api-1.6.cdx.json"))
    assert set(packages) == {"libcrypto3", "org.yaml/snakeyaml", "requests"}
    assert packages["org.yaml/snakeyaml"]["license"] == {
        "expression": "Apache-2.0",
        "comments": "The Apache Software License, Version 2.0",
    }


def test_a_cyclonedx_licence_id_given_as_a_name_is_an_expression():
    """Trivy's CycloneDX gives every licence as a name: AGPL-3.0-only kept as free text escaped denyLicenses."""
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    component = next(c for c in doc["components"] if c["name"] == "requests")
    component["licenses"] = [{"license": {"name": "AGPL-3.0-only"}}, {"license": {"name": "Custom License 1.0"}}]
    packages = _packages(ingest("cyclonedx", json.dumps(doc).encode()))
    assert packages["requests"]["license"] == {"expression": "AGPL-3.0-only", "comments": "Custom License 1.0"}


def _assessments(plan) -> dict[str, dict]:
    return {
        body["vulnerabilityAssessment"]["assessment"]["vulnerabilityId"]: body
        for name, body in plan.notes.items()
        if "vulnerabilityAssessment" in body
    }


def test_cyclonedx_vex_becomes_assessment_notes():
    assessments = _assessments(ingest("cyclonedx", "cyclonedx/payments-api-1.6.cdx.json"))
    # CVE-2024-2511 has no analysis: a disclosure, not VEX.
    assert set(assessments) == {"CVE-2022-1471", "CVE-2024-6119", "CVE-2024-9143", "GHSA-9wx4-h78v-vm56"}
    snakeyaml = assessments["CVE-2022-1471"]["vulnerabilityAssessment"]
    # `affects` names the component by its bom-ref: the assessment is about that package in the image only.
    assert snakeyaml["product"] == {
        "name": "pkg:maven/org.yaml/snakeyaml@1.33 in registry.example.com/payments/api",
        "id": "pkg:maven/org.yaml/snakeyaml@1.33",
        "genericUri": IMAGE,
    }
    assert snakeyaml["assessment"]["state"] == "NOT_AFFECTED"
    assert snakeyaml["assessment"]["justification"] == {
        "justificationType": "VULNERABLE_CODE_NOT_IN_EXECUTE_PATH",
        "details": (
            "The service only loads its own bundled configuration through SafeConstructor; "
            "no untrusted YAML reaches SnakeYaml."
        ),
    }
    assert snakeyaml["assessment"]["relatedUris"] == [
        {"url": "https://nvd.nist.gov/vuln/detail/CVE-2022-1471", "label": "NVD"}
    ]
    exploitable = assessments["CVE-2024-6119"]["vulnerabilityAssessment"]["assessment"]
    assert exploitable["state"] == "AFFECTED"
    assert exploitable["remediations"] == [{"remediationType": "VENDOR_FIX", "details": "update"}]
    assert assessments["CVE-2024-9143"]["vulnerabilityAssessment"]["assessment"]["state"] == "UNDER_INVESTIGATION"
    assert assessments["GHSA-9wx4-h78v-vm56"]["vulnerabilityAssessment"]["assessment"]["state"] == "FIXED"


def test_an_analysis_without_a_state_is_accepted_and_clears_nothing():
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    del doc["vulnerabilities"][0]["analysis"]["state"]  # CVE-2022-1471's not_affected
    assert list(_validator("cyclonedx/payments-api-1.6.cdx.json").iter_errors(doc)) == []  # the schema allows it
    plan = ingest("cyclonedx", json.dumps(doc).encode())
    assert_valid_grafeas(plan)
    note = _assessments(plan)["CVE-2022-1471"]
    assert "state" not in note["vulnerabilityAssessment"]["assessment"]  # STATE_UNSPECIFIED: neither cleared nor fixed
    assert note["shortDescription"] == "CVE-2022-1471 in pkg:maven/org.yaml/snakeyaml@1.33: no state given"


def _vex(*entries: dict, components: list[dict] | None = None) -> bytes:
    """A CycloneDX 1.6 BOM of the payments image with these vulnerability entries."""
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    doc["vulnerabilities"] = list(entries)
    if components is not None:
        doc["components"] = components
    assert list(_validator("cyclonedx/payments-api-1.6.cdx.json").iter_errors(doc)) == []
    return json.dumps(doc).encode()


def _entry(state: str, *refs: str, cve: str = "CVE-2022-1471") -> dict:
    entry = {"id": cve, "analysis": {"state": state}}
    if refs:
        entry["affects"] = [{"ref": ref} for ref in refs]
    return entry


def _scopes(plan) -> dict[str, str]:
    """Each assessment's package (product.id, "" for the whole image) and its state."""
    return {
        note["vulnerabilityAssessment"]["product"].get("id", ""): note["vulnerabilityAssessment"]["assessment"]["state"]
        for note in plan.notes.values()
        if "vulnerabilityAssessment" in note
    }


JAR = {"bom-ref": "shaded-jar", "type": "library", "name": "yaml-shaded", "version": "4.0", "cpe": "cpe:2.3:a:ex:y:4.0"}


def test_entries_for_one_vulnerability_in_two_packages_are_two_notes_that_do_not_contradict():
    components = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))["components"] + [JAR]
    bom = _vex(
        _entry("not_affected", "pkg:maven/org.yaml/snakeyaml@1.33"),
        _entry("exploitable", "shaded-jar"),
        components=components,
    )
    plan = ingest("cyclonedx", bom)
    assert_valid_grafeas(plan)
    assert _scopes(plan) == {"pkg:maven/org.yaml/snakeyaml@1.33": "NOT_AFFECTED", "cpe:2.3:a:ex:y:4.0": "AFFECTED"}


def test_an_entry_naming_two_packages_is_a_note_for_each():
    components = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))["components"] + [JAR]
    link = "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg%3Amaven%2Forg.yaml%2Fsnakeyaml%401.33"
    refs = ("pkg:maven/org.yaml/snakeyaml@1.33", "shaded-jar", link)  # the link names the first one again
    plan = ingest("cyclonedx", _vex(_entry("not_affected", *refs), components=components))
    assert _scopes(plan) == {"pkg:maven/org.yaml/snakeyaml@1.33": "NOT_AFFECTED", "cpe:2.3:a:ex:y:4.0": "NOT_AFFECTED"}


@pytest.mark.parametrize(
    "refs, package",
    [
        # A BOM-Link to a component, in this BOM or in the SBOM a separate VEX document refers to.
        (("urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg%3Amaven%2Forg.yaml%2Fsnakeyaml%401.33",), None),
        # A component without purl or CPE: a purl made of its name and version.
        (("app-config",), "pkg:generic/config%2Fapplication.yaml"),
        # No affects, or the image itself: the whole image.
        ((), ""),
        (
            (
                "pkg:oci/api@sha256%3A4c1f9a7b2d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8?repository_url=registry.example.com%2Fpayments%2Fapi",
            ),
            "",
        ),
    ],
)
def test_an_affects_ref_resolves_to_the_package_it_names(refs, package):
    plan = ingest("cyclonedx", _vex(_entry("not_affected", *refs)))
    expected = "pkg:maven/org.yaml/snakeyaml@1.33" if package is None else package
    assert _scopes(plan) == {expected: "NOT_AFFECTED"}


def test_an_assessment_of_the_whole_image_keeps_its_note_id():
    entry = _entry("not_affected")
    [name] = [n for n, body in ingest("cyclonedx", _vex(entry)).notes.items() if "vulnerabilityAssessment" in body]
    revision = hashlib.sha256(json.dumps([IMAGE, entry], sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert name == note_name(f"vex-CVE-2022-1471-{revision[:16]}")


def test_an_assessment_of_packages_keeps_the_note_ids_it_had():
    """A note id is a hash of the resource, the whole entry and the package: posting the same VEX after
    an upgrade must find the notes it made before."""
    entry = _entry("not_affected", "pkg:pypi/requests@2.32.3", "pkg:pypi/urllib3@2.2.2")
    names = [n for n, body in ingest("cyclonedx", _vex(entry)).notes.items() if "vulnerabilityAssessment" in body]
    assert names == [
        note_name(f"vex-CVE-2022-1471-{hashlib.sha256(_compact_json([IMAGE, entry, package])).hexdigest()[:16]}")
        for package in ("pkg:pypi/requests@2.32.3", "pkg:pypi/urllib3@2.2.2")
    ]


def _compact_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def test_a_vex_entry_naming_many_packages_is_read_in_linear_time(monkeypatch):
    """Each note id hashed the whole entry again: an entry naming n packages cost n times its size, and a
    1 MB document took minutes. Counted in bytes hashed, not timed."""
    hashed = []

    class Counting:
        def __init__(self, hasher):
            self.hasher = hasher

        def update(self, data):
            hashed.append(len(data))
            self.hasher.update(data)

        def copy(self):
            return Counting(self.hasher.copy())

        def hexdigest(self):
            return self.hasher.hexdigest()

    def sha256(data=b""):
        hashed.append(len(data))
        return Counting(hashlib.sha256(data))

    monkeypatch.setattr(cyclonedx, "hashlib", types.SimpleNamespace(sha256=sha256))
    entry = _entry("not_affected", *(f"pkg:npm/p{i}@1.0" for i in range(2000)))
    assert len(_scopes(ingest("cyclonedx", _vex(entry)))) == 2000
    assert 0 < sum(hashed) < 3 * len(_compact_json(entry))


def test_a_bom_planning_more_assessments_than_one_ingestion_stores_is_refused(monkeypatch):
    from grafeas_py.ingest import plan

    monkeypatch.setattr(plan, "MAX_ASSESSMENTS", 2)
    entry = _entry("not_affected", "pkg:pypi/requests@2.32.3", "pkg:pypi/urllib3@2.2.2", "pkg:pypi/idna@3.7")
    with pytest.raises(InvalidArgument, match=r"^invalid cyclonedx report: vulnerabilities: more than 2 assessments"):
        ingest("cyclonedx", _vex(entry))
    monkeypatch.setattr(plan, "MAX_ASSESSMENTS", 3)
    assert len(_scopes(ingest("cyclonedx", _vex(entry)))) == 3


def test_an_affects_ref_to_nothing_known_is_refused():
    """Taken for the whole image, an assessment of an unknown part would clear findings in every other."""
    with pytest.raises(InvalidArgument, match=r"vulnerabilities\[0\]\.affects\[1\]\.ref: 'comp-17' names no component"):
        ingest("cyclonedx", _vex(_entry("not_affected", "pkg:pypi/requests@2.32.3", "comp-17")))


@pytest.mark.parametrize(
    "identifiers, given",
    [
        ({"purl": "npm/left-pad@1.3.0"}, "purl 'npm/left-pad@1.3.0'"),
        ({"cpe": "left-pad:1.3.0"}, "cpe 'left-pad:1.3.0'"),
        ({"purl": "left-pad", "cpe": "x"}, "purl 'left-pad' and cpe 'x'"),
    ],
)
def test_an_affects_ref_to_a_component_whose_identifiers_name_no_package_is_refused(identifiers, given):
    """Its note's product.id named no package, so the gate read it as the whole image."""
    bad = {"bom-ref": "lp", "type": "library", "name": "left-pad", "version": "1.3.0", **identifiers}
    components = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))["components"] + [bad]
    with pytest.raises(InvalidArgument) as caught:
        ingest("cyclonedx", _vex(_entry("not_affected", "lp"), components=components))
    assert caught.value.message == (
        f"invalid cyclonedx report: vulnerabilities[0].affects[0].ref: 'lp' is a component whose {given} name "
        "no package: the assessment cannot be limited to it"
    )
    # Either identifier that names a package is enough.
    good = {**bad, "purl": "npm/left-pad@1.3.0", "cpe": "cpe:2.3:a:left-pad:left-pad:1.3.0:*:*:*:*:*:*:*"}
    plan = ingest("cyclonedx", _vex(_entry("not_affected", "lp"), components=components[:-1] + [good]))
    assert _scopes(plan) == {good["cpe"]: "NOT_AFFECTED"}


def test_an_affects_ref_two_components_share_is_refused_unless_they_are_one_package():
    """The last of them took the ref, so the assessment of one package cleared another's findings."""
    components = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))["components"]
    foo = {"bom-ref": "dup", "type": "library", "name": "libfoo", "version": "1", "purl": "pkg:apk/alpine/libfoo@1"}
    ssl = {"bom-ref": "dup", "type": "library", "name": "libssl3", "version": "3", "purl": "pkg:apk/alpine/libssl3@3"}
    with pytest.raises(InvalidArgument) as caught:
        ingest("cyclonedx", _vex(_entry("not_affected", "dup"), components=[*components, foo, ssl]))
    assert caught.value.message == (
        "invalid cyclonedx report: vulnerabilities[0].affects[0].ref: 'dup' is the bom-ref of 2 components naming "
        "other packages ('pkg:apk/alpine/libfoo@1', 'pkg:apk/alpine/libssl3@3')"
    )
    plan = ingest(
        "cyclonedx",
        _vex(_entry("not_affected", "dup"), components=[*components, ssl, {**ssl, "description": "a copy"}]),
    )
    assert _scopes(plan) == {"pkg:apk/alpine/libssl3@3": "NOT_AFFECTED"}  # one package listed twice


def test_the_components_of_the_subject_are_packages_too():
    """cdxgen writes a multi-module build's modules under metadata.component.components: they were left out."""
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    module = {"type": "library", "name": "evilpkg", "version": "1", "licenses": [{"license": {"id": "AGPL-3.0-only"}}]}
    doc["metadata"]["component"]["components"] = [module]
    packages = _packages(ingest("cyclonedx", json.dumps(doc).encode()))
    assert packages["evilpkg"]["license"] == {"expression": "AGPL-3.0-only"}


def test_a_revised_assessment_is_a_new_note_and_the_same_one_is_not():
    first = ingest("cyclonedx", "cyclonedx/payments-api-1.6.cdx.json")
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    doc["vulnerabilities"][2]["analysis"] = {"state": "not_affected", "justification": "requires_environment"}
    second = ingest("cyclonedx", json.dumps(doc).encode())
    new = set(second.notes) - set(first.notes)
    assert len(new) == 1 and "CVE-2024-9143" in new.pop()
    revised = _assessments(second)["CVE-2024-9143"]["vulnerabilityAssessment"]["assessment"]
    assert revised["justification"] == {"details": "requires_environment"}  # no Grafeas type for it


@pytest.mark.parametrize("names_subject", [True, False], ids=["the-subject", "no-package"])
def test_an_assessment_of_a_subject_that_is_another_image_is_refused(names_subject):
    """The BOM's subject stands for the resource; a VEX whose subject was another image cleared this one's
    findings, where OpenVEX and CSAF leave a product of another digest out."""
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    subject = doc["metadata"]["component"]
    other = "b" * 64
    subject["purl"] = subject["bom-ref"] = subject["purl"].replace(DIGEST, other)
    doc["vulnerabilities"][0]["affects"] = [{"ref": subject["bom-ref"]}] if names_subject else []
    with pytest.raises(InvalidArgument) as refused:
        ingest("cyclonedx", json.dumps(doc).encode())
    assert f"is about the BOM's subject (metadata.component), which is sha256:{other}, not the artifact {IMAGE}" in (
        refused.value.message
    )
    assert "vulnerabilities[0].affects" in refused.value.message
    # Its subject as the resource, or one by hashes of this digest: the same assessment is the resource's.
    assert _assessments(ingest("cyclonedx", json.dumps(doc).encode(), resource_uri=IMAGE.replace(DIGEST, other)))
    subject["purl"] = subject["bom-ref"] = "pkg:oci/api"
    subject["hashes"] = [{"alg": "SHA-256", "content": DIGEST}]
    doc["vulnerabilities"][0]["affects"] = [{"ref": "pkg:oci/api"}] if names_subject else []
    assert _assessments(ingest("cyclonedx", json.dumps(doc).encode()))["CVE-2022-1471"]


def test_an_assessment_of_listed_versions_is_limited_to_the_exact_versions_it_speaks_of():
    """`affects[].versions` was ignored: `resolved` with 4.17.21 unaffected and <4.17.21 affected cleared
    lodash 4.17.20 too. Ranges cannot be limited to and are left out; an entry of ranges only clears nothing."""
    versions = [
        {"range": "vers:npm/<4.17.21", "status": "affected"},
        {"version": "4.17.21", "status": "unaffected"},
        {"version": "4.17.22"},  # affected, by default
    ]
    resolved = {"id": "CVE-2021-23337", "analysis": {"state": "resolved"}}
    resolved["affects"] = [{"ref": "pkg:npm/lodash?arch=x", "versions": versions}]
    exploitable = {"id": "CVE-2021-23338", "analysis": {"state": "exploitable"}}
    exploitable["affects"] = [{"ref": "pkg:npm/lodash@4.17.20", "versions": versions}]
    ranges_only = {"id": "CVE-2021-23339", "analysis": {"state": "not_affected"}}
    ranges_only["affects"] = [{"ref": "pkg:npm/lodash", "versions": versions[:1]}]
    plan = ingest("cyclonedx", _vex(resolved, exploitable, ranges_only))
    products = {}
    for note in plan.notes.values():
        if "vulnerabilityAssessment" in note:
            assessment = note["vulnerabilityAssessment"]
            products[assessment["assessment"]["vulnerabilityId"]] = assessment["product"]["id"]
    assert products == {"CVE-2021-23337": "pkg:npm/lodash@4.17.21?arch=x", "CVE-2021-23338": "pkg:npm/lodash@4.17.22"}


def test_a_vex_only_bom_has_no_sbom_reference():
    doc = json.loads(raw("cyclonedx/payments-api-1.6.cdx.json"))
    del doc["components"]
    plan = ingest("cyclonedx", json.dumps(doc).encode())
    assert not plan.occurrences and len(_assessments(plan)) == 4


@pytest.mark.parametrize(
    "change,message",
    [
        ({"bomFormat": "SPDX"}, "bomFormat: expected 'CycloneDX', got 'SPDX'"),
        ({"specVersion": "2.0"}, "specVersion: unknown value '2.0'"),
        ({"components": [{"type": "library"}]}, r"components\[0\]\.name: is required"),
    ],
)
def test_cyclonedx_shape_errors(change, message):
    doc = json.loads(raw("cyclonedx/payments-api-1.5.cdx.json")) | change
    with pytest.raises(InvalidArgument, match=message):
        ingest("cyclonedx", json.dumps(doc).encode())


def test_an_rpm_components_epoch_is_in_its_version_as_scanners_write_it():
    """The purl's `epoch` qualifier was dropped: `1.0.2k-16.el7` beside a scan's `1:1.0.2k-16.el7` for one package,
    and a denyPackages rule naming the version the scan reports let the SBOM's package through."""
    purl = "pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1&distro=centos-7"
    components = [
        {"type": "library", "name": "openssl-libs", "version": "1.0.2k-16.el7", "purl": purl},
        {"type": "library", "name": "bash", "version": "4.2.46", "purl": "pkg:rpm/centos/bash@4.2.46?arch=x86_64"},
    ]
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}
    packages = {p["name"]: p for p in details(ingest("cyclonedx", json.dumps(doc).encode()), "package")}
    assert packages["openssl-libs"]["version"] == {
        "name": "1:1.0.2k-16.el7",
        "kind": "NORMAL",
        "fullName": "1:1.0.2k-16.el7",
    }
    assert packages["openssl-libs"]["location"][0]["version"]["fullName"] == "1:1.0.2k-16.el7"
    assert packages["bash"]["version"]["fullName"] == "4.2.46"
