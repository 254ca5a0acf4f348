"""Trivy, Grype and Clair: what each finding and each scan maps to."""

from __future__ import annotations

import json

import pytest

from grafeas_py.errors import InvalidArgument

from .support import ingest, note_name, occurrences_on, raw


def _vulnerability(plan, note_id: str, package: str) -> dict:
    found = [o["vulnerability"] for o in occurrences_on(plan, note_id)]
    return next(v for v in found if v["packageIssue"][0]["affectedPackage"] == package)


# ---- Trivy ---------------------------------------------------------------------------------


def test_trivy_fixed_os_package():
    plan = ingest("trivy", "trivy/alpine-app-image.json")
    v = _vulnerability(plan, "CVE-2024-6119", "libcrypto3")
    assert v["severity"] == "HIGH" and v["effectiveSeverity"] == "HIGH"
    assert v["cvssScore"] == 7.5 and v["cvssVersion"] == "CVSS_VERSION_3"
    assert v["cvssv3"]["attackVector"] == "ATTACK_VECTOR_NETWORK"
    assert v["cvssv3"]["availabilityImpact"] == "IMPACT_HIGH"
    assert v["fixAvailable"] is True and v["type"] == "OS"
    assert v["packageIssue"] == [
        {
            "affectedCpeUri": "pkg:apk/alpine/libcrypto3?arch=x86_64&distro=3.19.1",
            "affectedPackage": "libcrypto3",
            "affectedVersion": {"name": "3.1.4-r5", "kind": "NORMAL", "fullName": "3.1.4-r5"},
            "fixAvailable": True,
            "packageType": "OS",
            "fixedCpeUri": "pkg:apk/alpine/libcrypto3?arch=x86_64&distro=3.19.1",
            "fixedPackage": "libcrypto3",
            "fixedVersion": {"name": "3.1.7-r0", "kind": "NORMAL", "fullName": "3.1.7-r0"},
        }
    ]
    assert v["shortDescription"] == "openssl: possible denial of service in X.509 name checks"
    assert v["longDescription"].startswith("Checking an X.509 certificate name")
    assert v["relatedUrls"][0] == {"url": "https://avd.aquasec.com/nvd/cve-2024-6119"}


def test_trivy_unfixed_package_has_a_maximum_fixed_version():
    v = _vulnerability(ingest("trivy", "trivy/alpine-app-image.json"), "CVE-2023-42366", "busybox")
    assert v["packageIssue"][0]["fixedVersion"] == {"kind": "MAXIMUM"}
    assert "fixAvailable" not in v and "fixedPackage" not in v["packageIssue"][0]


def test_trivy_keeps_nvd_severity_apart_from_the_distribution_one():
    v = _vulnerability(ingest("trivy", "trivy/alpine-app-image.json"), "CVE-2024-9143", "libcrypto3")
    assert v["severity"] == "MEDIUM" and v["effectiveSeverity"] == "LOW"
    assert "cvssScore" not in v  # the report gives this one no CVSS


def test_trivy_unknown_severity_is_unspecified():
    v = _vulnerability(ingest("trivy", "trivy/alpine-app-image.json"), "CVE-2019-14697", "musl")
    assert "severity" not in v and "effectiveSeverity" not in v


@pytest.mark.parametrize("score, rating", [(9.8, "CRITICAL"), (7.0, "HIGH"), (6.9, "MEDIUM"), (0.1, "LOW")])
def test_an_unknown_severity_with_a_cvss_score_is_rated_by_it(score, rating):
    """Grype's Unknown beside NVD's 9.8 ranked below MINIMAL and passed every severity limit."""
    doc = json.loads(raw("grype/debian-app-image.json"))
    match = doc["matches"][0]
    match["vulnerability"]["severity"] = "Unknown"
    match["relatedVulnerabilities"][0]["cvss"][0]["metrics"]["baseScore"] = score
    [v] = [o["vulnerability"] for o in occurrences_on(ingest("grype", json.dumps(doc).encode()), "CVE-2023-45853")]
    assert (v["severity"], v.get("effectiveSeverity"), v["cvssScore"]) == (rating, None, score)


def test_trivy_language_package_with_cvss_v2_and_v3_and_a_file_path():
    v = _vulnerability(
        ingest("trivy", "trivy/alpine-app-image.json"), "CVE-2021-44228", "org.apache.logging.log4j:log4j-core"
    )
    assert v["type"] == "MAVEN" and v["effectiveSeverity"] == "CRITICAL"
    # SeveritySource is ghsa, so its CVSS is shown; ghsa gives no v2.
    assert v["cvssScore"] == 10.0 and "cvssV2" not in v
    issue = v["packageIssue"][0]
    assert issue["affectedCpeUri"] == "pkg:maven/org.apache.logging.log4j/log4j-core"
    assert issue["fixedVersion"]["name"] == "2.15.0, 2.3.1, 2.12.2"
    assert issue["fileLocation"] == [{"filePath": "app/payments-api.jar/BOOT-INF/lib/log4j-core-2.14.1.jar"}]


def test_trivy_note_per_advisory_lists_each_affected_package():
    plan = ingest("trivy", "trivy/alpine-app-image.json")
    note = plan.notes[note_name("CVE-2024-6119")]
    assert [d["affectedPackage"] for d in note["vulnerability"]["details"]] == ["libcrypto3", "libssl3"]
    assert note["vulnerability"]["cvssV3"]["baseScore"] == 7.5
    assert note["shortDescription"] == "openssl: possible denial of service in X.509 name checks"
    assert note_name("GHSA-9wx4-h78v-vm56") in plan.notes
    assert len(occurrences_on(plan, "CVE-2024-6119")) == 2


def test_trivy_discovery_records_the_scan():
    plan = ingest("trivy", "trivy/alpine-app-image.json")
    [discovery] = [o.body for o in plan.occurrences if "discovery" in o.body]
    assert discovery["noteName"] == note_name("trivy-scan")
    assert discovery["discovery"] == {
        "analysisStatus": "FINISHED_SUCCESS",
        "analysisCompleted": {"analysisType": ["VULNERABILITY"]},
        "lastScanTime": "2024-12-03T08:41:27.163412Z",  # CreatedAt, +01:00 in the report
    }
    assert plan.notes[note_name("trivy-scan")]["discovery"] == {"analysisKind": "VULNERABILITY"}


@pytest.mark.parametrize(
    "fixture",
    ["trivy/image-with-secrets.json", "trivy/image-with-misconfigurations.json", "grype/debian-app-image.json"],
)
def test_the_scans_discovery_comes_after_everything_it_found(fixture):
    """`grafeas-py ingest` sends a plan in batches of 1000 in order: a DISCOVERY planned before the secrets
    and failed checks recorded the scan as done while those could still be refused."""
    plan = ingest(fixture.split("/")[0], fixture)
    kinds = [next(k for k in o.body if k not in ("resourceUri", "noteName")) for o in plan.occurrences]
    assert len(kinds) > 2 and kinds.index("discovery") == len(kinds) - 1, kinds


def test_a_clean_scan_is_one_discovery_and_no_vulnerability():
    plan = ingest("trivy", "trivy/clean-image.json")
    assert [list(o.body)[2] for o in plan.occurrences] == ["discovery"]
    assert list(plan.notes) == [note_name("trivy-scan")]


@pytest.mark.parametrize("kept", [("config",), ("secret",), ()], ids=["config-only", "secrets-only", "no-results"])
def test_a_report_without_the_vulnerability_scanners_results_records_no_scan(kept):
    """`trivy config` or `--scanners secret` scanned no package for vulnerabilities: recorded as a scan, such a
    report let an image that never had one through a gate's scan rule."""
    doc = json.loads(raw("trivy/image-with-secrets.json"))
    misconfigured = json.loads(raw("trivy/image-with-misconfigurations.json"))
    results = doc["Results"] + [r for r in misconfigured["Results"] if r["Class"] == "config"]
    doc["Results"] = [r for r in results if r["Class"] in kept]
    plan = ingest("trivy", json.dumps(doc).encode())
    assert not [o for o in plan.occurrences if "discovery" in o.body]
    assert note_name("trivy-scan") not in plan.notes
    assert bool(plan.occurrences) == bool(kept)  # what it found is still recorded


def test_each_new_report_is_a_new_scan_while_findings_keep_their_keys():
    first = ingest("trivy", "trivy/alpine-app-image.json")
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["CreatedAt"] = "2024-12-04T09:00:00Z"
    second = ingest("trivy", json.dumps(doc).encode())
    keys = lambda plan, member: [o.key for o in plan.occurrences if member in o.body]  # noqa: E731
    assert keys(first, "vulnerability") == keys(second, "vulnerability")
    assert keys(first, "discovery") != keys(second, "discovery")


def test_two_findings_differing_only_in_target_or_version_get_different_keys():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    vulnerability = doc["Results"][2]["Vulnerabilities"][0]
    doc["Results"].append(
        {"Target": "opt/venv/lib/python3.11/site-packages", "Class": "lang-pkgs", "Type": "python-pkg"}
    )
    doc["Results"][-1]["Vulnerabilities"] = [vulnerability, {**vulnerability, "InstalledVersion": "2.30.0"}]
    plan = ingest("trivy", json.dumps(doc).encode())
    keys = [o.key for o in plan.occurrences if o.body["noteName"] == note_name("GHSA-9wx4-h78v-vm56")]
    assert len(keys) == len(set(keys)) == 3


# The keys versions before OS package findings left the typed reference out gave the fixture's findings:
# databases hold occurrences under them.
KEYS_BEFORE = {
    ("CVE-2024-6119", "libcrypto3"): "0af382927a522a261532d7f2ec26d345dca9528889c64797411351c313bd4d11",
    ("CVE-2024-6119", "libssl3"): "f1af4e3808b810860a0cca74c0996ec3e81f0176c26019d833d4742fd70fac81",
    ("CVE-2023-42366", "busybox"): "61dc406b88fb4775cea0558ab89305ee8aa6c2a07d4ee7959299e81fcd50c1db",
    ("CVE-2024-9143", "libcrypto3"): "28f7e36497e771c5b6cbfece0c7e0abc792280f1381eccc7c313f1626c5c90e5",
    ("CVE-2019-14697", "musl"): "c982dd74beec8e053bc4c841270a08cc1ea6070599ba92b1e9b68fc6b5bf794c",
    ("CVE-2022-1471", "org.yaml:snakeyaml"): "96db48f73532cfc42d09190ba488248ef4998240d0bdad2fa743343507df2cf9",
    ("CVE-2021-44228", "org.apache.logging.log4j:log4j-core"): (
        "5cc45ee5a527426023f29954cb5a4d5d21e825e5dd64bc73ebdf24d002eebed0"
    ),
    ("GHSA-9wx4-h78v-vm56", "requests"): "8f54ff1cc315b136e55492540cef1531ffdf97934e29e2b09449507352abf086",
}


def _vulnerability_keys(plan) -> dict[tuple[str, str], tuple[str, str]]:
    """(key, legacy key) of each finding, by (advisory, package)."""
    return {
        (o.body["noteName"].rsplit("/", 1)[1], o.body["vulnerability"]["packageIssue"][0]["affectedPackage"]): (
            o.key,
            o.legacy_key,
        )
        for o in plan.occurrences
        if "vulnerability" in o.body
    }


def test_os_package_findings_are_keyed_without_the_reference_trivy_was_given():
    """Trivy names an OS package result after the image reference as typed: by tag or by digest, one image."""
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    keys = _vulnerability_keys(ingest("trivy", json.dumps(doc).encode()))
    doc["ArtifactName"] = "registry.example.com/payments/api:1.4.2"
    doc["Results"][0]["Target"] = "registry.example.com/payments/api:1.4.2 (alpine 3.19.1)"
    by_tag = _vulnerability_keys(ingest("trivy", json.dumps(doc).encode()))
    assert {finding: key for finding, (key, _) in by_tag.items()} == {
        finding: key for finding, (key, _) in keys.items()
    }
    # Each OS package finding carries the key it had before, so what was stored under it is found again;
    # language package findings, whose targets are paths in the image, keep their keys.
    assert {finding: legacy or key for finding, (key, legacy) in keys.items()} == KEYS_BEFORE
    assert [finding for finding, (_, legacy) in keys.items() if legacy] == list(KEYS_BEFORE)[:5]
    assert by_tag[("CVE-2019-14697", "musl")][1] != KEYS_BEFORE[("CVE-2019-14697", "musl")]  # another target


def test_a_finding_listed_twice_is_one_occurrence():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["Results"][0]["Vulnerabilities"].append(doc["Results"][0]["Vulnerabilities"][0])
    assert len(ingest("trivy", json.dumps(doc).encode()).occurrences) == 9


def test_a_vulnerability_grype_matches_by_two_sources_is_two_findings():
    """The distribution's advisory (Low, fixed) and NVD's CPE (Critical, no fix): one occurrence kept one of
    them, and whichever it kept, some policy's limits let the finding pass that the other would deny."""
    doc = json.loads(raw("grype/debian-app-image.json"))
    match = doc["matches"][0]
    low = {**match, "vulnerability": {**match["vulnerability"], "severity": "Low", "namespace": "debian:distro:12"}}
    low["vulnerability"]["fix"] = {"versions": ["9"], "state": "fixed"}
    critical = {**match, "vulnerability": {**match["vulnerability"], "severity": "Critical", "namespace": "nvd:cpe"}}
    for matches in ([critical, low], [low, critical]):
        doc["matches"] = matches
        found = [
            o["vulnerability"] for o in occurrences_on(ingest("grype", json.dumps(doc).encode()), "CVE-2023-45853")
        ]
        assert sorted((v["severity"], v["packageIssue"][0]["fixedVersion"]["kind"]) for v in found) == [
            ("CRITICAL", "MAXIMUM"),
            ("LOW", "NORMAL"),
        ]
    doc["matches"] = [critical, {**critical, "vulnerability": {**critical["vulnerability"], "severity": "High"}}]
    [kept] = [o["vulnerability"] for o in occurrences_on(ingest("grype", json.dumps(doc).encode()), "CVE-2023-45853")]
    assert kept["severity"] == "CRITICAL"  # one source listed twice: one finding, its most severe entry


V4_VECTOR = "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:L/VA:N/SC:N/SI:N/SA:L/E:P"


def _assert_cvss_v4(v: dict, score: float) -> None:
    assert v["cvssScore"] == score and v["cvssVersion"] == "CVSS_VERSION_4"  # the newest version scored
    assert v["cvssV4"] == {
        "baseScore": score,
        "attackVector": "ATTACK_VECTOR_NETWORK",
        "attackComplexity": "ATTACK_COMPLEXITY_LOW",
        "attackRequirements": "ATTACK_REQUIREMENTS_PRESENT",
        "privilegesRequired": "PRIVILEGES_REQUIRED_NONE",
        "userInteraction": "USER_INTERACTION_PASSIVE",
        "vulnerableSystemConfidentialityImpact": "IMPACT_HIGH",
        "vulnerableSystemIntegrityImpact": "IMPACT_LOW",
        "vulnerableSystemAvailabilityImpact": "IMPACT_NONE",
        "subsequentSystemConfidentialityImpact": "IMPACT_NONE",
        "subsequentSystemIntegrityImpact": "IMPACT_NONE",
        "subsequentSystemAvailabilityImpact": "IMPACT_LOW",
        "exploitMaturity": "EXPLOIT_MATURITY_POC",
    }


def test_trivy_cvss_v4_with_v3():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"].update(V40Vector=V4_VECTOR, V40Score=8.3)
    v = _vulnerability(ingest("trivy", json.dumps(doc).encode()), "CVE-2024-6119", "libcrypto3")
    _assert_cvss_v4(v, 8.3)
    assert v["cvssv3"]["baseScore"] == 7.5  # still kept beside it


def test_grype_cvss_v4_from_the_match_record():
    doc = json.loads(raw("grype/debian-app-image.json"))
    v4 = {
        "source": "nvd@nist.gov",
        "type": "Primary",
        "version": "4.0",
        "vector": V4_VECTOR,
        "metrics": {"baseScore": 8.3},
    }
    doc["matches"][1]["vulnerability"]["cvss"].append(v4)
    v = _vulnerability(ingest("grype", json.dumps(doc).encode()), "CVE-2024-45490", "libexpat1")
    _assert_cvss_v4(v, 8.3)
    assert v["cvssv3"]["baseScore"] == 9.8


def test_cvss_versions_after_4_are_left_out():
    doc = json.loads(raw("grype/debian-app-image.json"))
    later = {"version": "5.0", "vector": "CVSS:5.0/AV:N", "metrics": {"baseScore": 1.0}}
    doc["matches"][1]["vulnerability"]["cvss"].append(later)
    v = _vulnerability(ingest("grype", json.dumps(doc).encode()), "CVE-2024-45490", "libexpat1")
    assert v["cvssScore"] == 9.8 and v["cvssVersion"] == "CVSS_VERSION_3" and "cvssV4" not in v


def test_cvss_scores_outside_0_to_10_are_refused():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = 75
    with pytest.raises(InvalidArgument, match=r"CVSS\.nvd\.V3Score: expected a CVSS score from 0 to 10, got 75"):
        ingest("trivy", json.dumps(doc).encode())


def test_trivy_errors_point_into_the_report():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["Results"][1]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = "high"
    with pytest.raises(
        InvalidArgument, match=r"Results\[1\]\.Vulnerabilities\[0\]\.CVSS\.nvd\.V3Score: expected a number"
    ):
        ingest("trivy", json.dumps(doc).encode())


def test_trivy_secrets_become_secret_occurrences_on_a_note_per_rule():
    plan = ingest("trivy", "trivy/image-with-secrets.json")
    [github] = occurrences_on(plan, "trivy-secret-github-pat")
    assert github["secret"] == {
        "kind": "SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN",
        "locations": [
            {
                "fileLocation": {
                    "filePath": "app/.env",
                    "lineNumber": 4,
                    "layerDetails": {
                        "diffId": "sha256:7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b",
                        "command": "COPY . /app # buildkit",
                    },
                }
            }
        ],
    }
    assert "revoke" in github["remediation"]
    assert plan.notes[note_name("trivy-secret-github-pat")] == {
        "shortDescription": "GitHub Personal Access Token",
        "longDescription": "Trivy secret rule github-pat (category GitHub, severity CRITICAL)",
        "secret": {},
    }
    kinds = {
        o.body["noteName"].rsplit("/", 1)[1]: o.body["secret"]["kind"] for o in plan.occurrences if "secret" in o.body
    }
    assert kinds == {
        "trivy-secret-github-pat": "SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN",
        "trivy-secret-aws-access-key-id": "SECRET_KIND_UNKNOWN",  # Grafeas has no kind for AWS keys
        "trivy-secret-gcp-service-account": "SECRET_KIND_GCP_SERVICE_ACCOUNT_KEY",
    }


def test_the_same_rule_on_another_line_is_another_secret_and_a_rescan_the_same():
    doc = json.loads(raw("trivy/image-with-secrets.json"))
    first = [o.key for o in ingest("trivy", json.dumps(doc).encode()).occurrences if "secret" in o.body]
    moved = doc["Results"][1]["Secrets"][0]
    doc["Results"][1]["Secrets"].append({**moved, "StartLine": 9, "EndLine": 9})
    doc["CreatedAt"] = "2024-12-04T09:00:00Z"
    again = [o.key for o in ingest("trivy", json.dumps(doc).encode()).occurrences if "secret" in o.body]
    assert set(first) < set(again) and len(set(again)) == 4


def test_a_secret_without_a_rule_is_refused_with_its_place_in_the_report():
    doc = json.loads(raw("trivy/image-with-secrets.json"))
    del doc["Results"][2]["Secrets"][0]["RuleID"]
    with pytest.raises(InvalidArgument, match=r"Results\[2\]\.Secrets\[0\]\.RuleID"):
        ingest("trivy", json.dumps(doc).encode())


def test_failed_trivy_checks_become_non_compliant_occurrences_and_passed_ones_nothing():
    plan = ingest("trivy", "trivy/image-with-misconfigurations.json")
    compliance = {o.body["noteName"]: o.body for o in plan.occurrences if "compliance" in o.body}
    assert sorted(compliance) == [note_name("trivy-AVD-DS-0002"), note_name("trivy-AVD-DS-0026")]
    root = compliance[note_name("trivy-AVD-DS-0002")]
    reason = "Specify at least 1 USER command in Dockerfile with non-root user as argument"
    assert root["compliance"] == {
        "nonCompliantFiles": [{"path": "Dockerfile", "reason": reason}],
        "nonComplianceReason": reason,
    }
    assert root["remediation"] == "Add 'USER <non root user name>' line to the Dockerfile"
    note = plan.notes[note_name("trivy-AVD-DS-0002")]
    assert note["shortDescription"] == "Image user should not be 'root'"
    assert note["longDescription"] == "Trivy check AVD-DS-0002 (Dockerfile Security Check, severity HIGH)"
    assert note["relatedUrl"] == [
        {"url": "https://avd.aquasec.com/misconfig/ds002"},
        {"url": "https://docs.docker.com/develop/develop-images/dockerfile_best-practices/"},
    ]
    assert note["compliance"]["remediation"] == root["remediation"]
    assert note_name("trivy-AVD-DS-0005") not in plan.notes  # PASS: not a finding


def test_a_failed_check_names_its_lines_and_each_place_is_its_own_finding():
    doc = json.loads(raw("trivy/image-with-misconfigurations.json"))
    check = doc["Results"][1]["Misconfigurations"][2]
    check["Status"] = "FAIL"
    doc["Results"][1]["Misconfigurations"].append({**check, "CauseMetadata": {"StartLine": 9, "EndLine": 11}})
    plan = ingest("trivy", json.dumps(doc).encode())
    found = [o["compliance"]["nonCompliantFiles"][0]["reason"] for o in occurrences_on(plan, "trivy-AVD-DS-0005")]
    assert found == [
        "Consider using 'COPY . /app' command instead of 'ADD . /app' (line 6)",
        "Consider using 'COPY . /app' command instead of 'ADD . /app' (lines 9-11)",
    ]


def test_a_check_without_an_id_is_refused_with_its_place_in_the_report():
    doc = json.loads(raw("trivy/image-with-misconfigurations.json"))
    del doc["Results"][1]["Misconfigurations"][1]["AVDID"], doc["Results"][1]["Misconfigurations"][1]["ID"]
    with pytest.raises(
        InvalidArgument, match=r"Results\[1\]\.Misconfigurations\[1\]: a misconfiguration needs AVDID or ID"
    ):
        ingest("trivy", json.dumps(doc).encode())


# ---- Grype ---------------------------------------------------------------------------------


def test_grype_os_match():
    plan = ingest("grype", "grype/debian-app-image.json")
    v = _vulnerability(plan, "CVE-2024-45490", "libexpat1")
    assert v["severity"] == v["effectiveSeverity"] == "HIGH"
    assert v["type"] == "OS" and v["fixAvailable"] is True
    issue = v["packageIssue"][0]
    assert issue["affectedCpeUri"] == "pkg:deb/debian/libexpat1?arch=amd64&upstream=expat&distro=debian-12"
    assert issue["fixedVersion"]["name"] == "2.5.0-1+deb12u1"
    assert v["cvssScore"] == 9.8


def test_grype_wont_fix_is_no_fix_and_cvss_comes_from_related_records():
    v = _vulnerability(ingest("grype", "grype/debian-app-image.json"), "CVE-2023-45853", "zlib1g")
    assert v["packageIssue"][0]["fixedVersion"] == {"kind": "MAXIMUM"} and "fixAvailable" not in v
    assert v["severity"] == "CRITICAL" and v["cvssScore"] == 9.8  # from the nvd:cpe related record


def test_grype_negligible_is_minimal_and_java_is_maven():
    plan = ingest("grype", "grype/debian-app-image.json")
    assert _vulnerability(plan, "CVE-2024-2511", "libssl3")["severity"] == "MINIMAL"
    log4j = _vulnerability(plan, "GHSA-jfh8-c2jp-5v3q", "log4j-core")
    assert log4j["type"] == "MAVEN" and log4j["cvssScore"] == 10.0
    assert log4j["cvssV2"]["authentication"] == "AUTHENTICATION_NONE"  # v2 from the related NVD record


def test_grype_discovery_records_the_database_age():
    plan = ingest("grype", "grype/debian-app-image.json")
    [discovery] = [o.body["discovery"] for o in plan.occurrences if "discovery" in o.body]
    assert discovery["lastScanTime"] == "2024-12-03T11:02:47.129853Z"
    assert discovery["lastVulnerabilityUpdateTime"] == "2024-12-02T01:31:14Z"
    old = ingest("grype", "grype/clean-image.json").occurrences[0].body["discovery"]
    assert old["lastVulnerabilityUpdateTime"] == "2024-12-02T01:31:14Z"  # the pre-0.80 `db.built`


def test_grype_severity_is_matched_case_insensitively_and_unknown_words_refused():
    doc = json.loads(raw("grype/debian-app-image.json"))
    doc["matches"][0]["vulnerability"]["severity"] = "CRITICAL"
    assert (
        _vulnerability(ingest("grype", json.dumps(doc).encode()), "CVE-2023-45853", "zlib1g")["severity"] == "CRITICAL"
    )
    doc["matches"][3]["vulnerability"]["severity"] = "Moderate"
    with pytest.raises(InvalidArgument, match=r"matches\[3\]\.vulnerability\.severity: unknown value 'Moderate'"):
        ingest("grype", json.dumps(doc).encode())


def test_a_document_without_matches_is_not_a_grype_report():
    with pytest.raises(InvalidArgument, match="matches: is required"):
        ingest("grype", raw("trivy/clean-image.json"))


# ---- Clair ---------------------------------------------------------------------------------


def test_clair_os_package_is_located_by_its_distribution_cpe():
    v = _vulnerability(ingest("clair", "clair/debian-image.json"), "CVE-2024-5535", "libssl3")
    assert v["severity"] == v["effectiveSeverity"] == "LOW"
    issue = v["packageIssue"][0]
    assert issue["affectedCpeUri"] == "cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*"
    assert issue["fixedVersion"]["name"] == "3.0.14-1~deb12u1" and issue["packageType"] == "OS"
    assert v["cvssScore"] == 7.4  # from the clair.cvss enrichment
    assert v["relatedUrls"] == [
        {"url": "https://security-tracker.debian.org/tracker/CVE-2024-5535"},
        {"url": "https://www.openssl.org/news/secadv/20240627.txt"},
    ]


def test_clair_language_package_and_osv_fixed_version():
    v = _vulnerability(ingest("clair", "clair/debian-image.json"), "GHSA-34jh-p97f-mpxf", "urllib3")
    issue = v["packageIssue"][0]
    assert issue["affectedCpeUri"] == "pkg:pypi/urllib3" and issue["packageType"] == "PYPI"
    assert issue["fixedVersion"]["name"] == "1.26.19"  # from "fixed=1.26.19&introduced=0"


def test_clair_severities_and_the_scan_cpe():
    plan = ingest("clair", "clair/debian-image.json")
    assert _vulnerability(plan, "CVE-2023-45853", "zlib1g")["severity"] == "MINIMAL"
    assert "severity" not in _vulnerability(plan, "CVE-2022-3715", "bash")
    [discovery] = [o.body["discovery"] for o in plan.occurrences if "discovery" in o.body]
    assert discovery["lastScanTime"] == "2024-12-03T12:00:00Z"  # Clair gives none: `now`
    assert discovery["cpe"] == "cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*"


def test_clair_vendor_titles_give_the_advisory_id():
    doc = json.loads(raw("clair/debian-image.json"))
    doc["vulnerabilities"]["1138201"]["name"] = "RHSA-2024:4321: openssl security update (Moderate)"
    plan = ingest("clair", json.dumps(doc).encode())
    [v] = [o["vulnerability"] for o in occurrences_on(plan, "RHSA-2024-4321-" + _suffix("RHSA-2024:4321"))]
    assert v["shortDescription"] == "RHSA-2024:4321: openssl security update (Moderate)"


def test_clair_entries_sharing_an_advisory_name_are_each_their_own_finding():
    """rhel-container-updater gives each CVE an advisory fixes its own entry, all named after the advisory.

    The fixture is 3 of the 33 entries for quay/quay-rhel8 in a real clair-action report (the
    auditor's quay_v3_4.json, manifest sha256:2bd5e92b...), unchanged.
    """
    plan = ingest("clair", "clair/rhsa-one-name-many-cves.json")
    note_id = "RHSA-2021-3917-" + _suffix("RHSA-2021:3917")
    vulnerabilities = [o["vulnerability"] for o in occurrences_on(plan, note_id)]
    found = {v["relatedUrls"][1]["url"].rsplit("/", 1)[1]: v for v in vulnerabilities}  # by the CVE each links
    assert {cve: v["effectiveSeverity"] for cve, v in found.items()} == {
        "CVE-2017-16137": "LOW",
        "CVE-2018-3774": "HIGH",
        "CVE-2020-8203": "MEDIUM",
    }
    assert found["CVE-2018-3774"]["cvssScore"] == 10.0 and found["CVE-2017-16137"]["cvssScore"] == 5.3
    assert found["CVE-2020-8203"]["longDescription"].startswith("A flaw was found in nodejs-lodash")
    assert len({o.key for o in plan.occurrences}) == 4  # and the scan's DISCOVERY
    # The advisory's note is as severe as its worst CVE and links them all.
    note = plan.notes[note_name(note_id)]
    assert note["vulnerability"]["severity"] == "HIGH" and note["vulnerability"]["cvssScore"] == 10.0
    assert [d["severityName"] for d in note["vulnerability"]["details"]] == ["HIGH"]
    assert {u["url"].rsplit("/", 1)[1] for u in note["relatedUrl"]} == {"RHSA-2021:3917", *found}


def _suffix(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_clair_package_vulnerabilities_must_name_known_packages():
    doc = json.loads(raw("clair/debian-image.json"))
    doc["package_vulnerabilities"]["404"] = ["1138201"]
    with pytest.raises(InvalidArgument, match=r"package_vulnerabilities\['404'\]: no package '404'"):
        ingest("clair", json.dumps(doc).encode())
