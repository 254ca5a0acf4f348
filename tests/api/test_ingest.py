"""Ingestion over HTTP: raw reports in, idempotent writes, nothing written from a malformed report,
and what is ingested is what the deploy gate judges."""

import codecs
import hashlib
import json

import pytest

from tests.factories import NOTE_BODIES, occurrence_body
from tests.unit.ingest.support import (
    DIGEST,
    FIXTURES,
    IMAGE,
    NOTES_ONLY,
    VALID_CASES,
    envelope_statement,
    junit_report,
)


def ingest(http, project, fmt, fixture, resource=IMAGE, **params):
    data = (FIXTURES / fixture).read_bytes()
    return http.post(
        f"/v1/projects/{project}/occurrences:ingest",
        params={"format": fmt, "resourceUri": resource, **params},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def occurrences(http, project, filter_=""):
    r = http.get(f"/v1/projects/{project}/occurrences", params={"filter": filter_, "pageSize": 1000})
    assert r.status_code == 200, r.text
    return r.json().get("occurrences", [])


@pytest.mark.parametrize("fmt, fixture", VALID_CASES, ids=[c[1] for c in VALID_CASES])
def test_every_format_ingests_once_however_often_it_is_posted(http, project, fmt, fixture):
    first = ingest(http, project, fmt, fixture)
    assert first.status_code == 200, first.text
    summary = first.json()
    assert summary["documentSha256"] == hashlib.sha256((FIXTURES / fixture).read_bytes()).hexdigest()
    if fmt in NOTES_ONLY:  # a VEX document: its notes, copied onto findings (there are none here)
        assert (summary["created"], summary["unchanged"]) == (0, 0) and summary["notesCreated"] >= 1, summary
    else:
        assert summary["created"] >= 1 and summary["unchanged"] == 0
    stored = occurrences(http, project)
    assert len(stored) == summary["created"]
    assert all(o["resourceUri"] == IMAGE for o in stored)

    again = ingest(http, project, fmt, fixture).json()  # a CI retry
    assert again["created"] == 0 and again["notesCreated"] == 0
    # A Clair report does not say when it was made: its scan is timed when it is posted, each time.
    assert again["updated"] == (1 if fmt == "clair" else 0)
    assert again["unchanged"] == summary["created"] - again["updated"]
    assert sorted(o["name"] for o in occurrences(http, project)) == sorted(o["name"] for o in stored)


def test_a_scan_makes_vulnerabilities_notes_and_a_discovery(http, project):
    provider = f"{project}-vulnz"
    summary = ingest(http, project, "trivy", "trivy/alpine-app-image.json", noteProject=provider).json()
    assert summary["notesCreated"] >= 1
    vulns = occurrences(http, project, 'kind="VULNERABILITY"')
    assert vulns and all(o["noteName"].startswith(f"projects/{provider}/notes/") for o in vulns)
    assert len(occurrences(http, project, 'kind="DISCOVERY"')) == 1
    notes = http.get(f"/v1/projects/{provider}/notes", params={"pageSize": 1000}).json()["notes"]
    assert {o["noteName"] for o in vulns} <= {n["name"] for n in notes}


def test_a_clean_scan_still_records_that_it_scanned(http, project):
    assert ingest(http, project, "trivy", "trivy/clean-image.json").status_code == 200
    assert occurrences(http, project, 'kind="VULNERABILITY"') == []
    assert len(occurrences(http, project, 'kind="DISCOVERY"')) == 1


@pytest.mark.parametrize(
    "fmt, fixture, message",
    [
        ("trivy", "trivy/truncated.json", "line"),
        ("trivy", "trivy/missing-package-name.json", "PkgName"),
        ("junit", "junit/billion-laughs.xml", "junit"),
        ("junit", "junit/external-entity.xml", "junit"),
        ("spdx", "spdx/truncated.spdx.json", "line"),
        ("cyclonedx", "cyclonedx/unknown-vex-state.cdx.json", "state"),
        ("dsse", "dsse/bad-base64.json", "payload"),
    ],
)
def test_a_malformed_report_is_400_and_writes_nothing(http, project, fmt, fixture, message):
    r = ingest(http, project, fmt, fixture, noteProject=f"{project}-notes")
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]
    assert occurrences(http, project) == []
    assert http.get(f"/v1/projects/{project}-notes/notes").json() == {}


def test_a_report_powershell_wrote_in_utf_16_records_what_its_utf_8_does(http, project):
    """PowerShell 5's `trivy image -f json app > report.json` writes UTF-16LE with a byte order mark."""
    text = (FIXTURES / "trivy/alpine-app-image.json").read_text(encoding="utf-8")
    utf16 = post_report(http, project, "trivy", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert utf16.status_code == 200, utf16.text
    created = utf16.json()["created"]
    utf8 = post_report(http, project, "trivy", text.encode()).json()
    # The same findings; only the scan's DISCOVERY is new, as each document is a scan of its own.
    assert (utf8["created"], utf8["updated"], utf8["unchanged"]) == (1, 0, created - 1)


def test_a_junit_report_nesting_suites_deeper_than_python_recurses_is_read_whole(http, project):
    depth = 2000  # Python's recursion limit is 1000
    xml = '<testsuite name="s">' * depth + '<testcase name="a"><failure/></testcase>' + "</testsuite>" * depth
    r = http.post(
        f"/v1/projects/{project}/occurrences:ingest",
        params={"format": "junit", "resourceUri": IMAGE},
        data=xml.encode(),
    )
    assert r.status_code == 200, r.text
    [occurrence] = occurrences(http, project)
    predicate = envelope_statement(occurrence["dsseAttestation"]["envelope"])["predicate"]
    assert predicate["result"] == "FAILED" and predicate["failedTests"] == ["s/a"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"format": "nessus", "resourceUri": IMAGE}, "format"),
        ({"resourceUri": IMAGE}, "format"),
        ({"format": "trivy"}, "resourceUri is required"),
        ({"format": "junit", "resourceUri": "https://gcr.io/acme/app:1.0"}, "must name the artifact's digest"),
        ({"format": "trivy", "resourceUri": IMAGE, "noteProject": "a/b"}, "noteProject"),
        ({"format": "junit", "resourceUri": IMAGE, "suite": ""}, "suite must not be empty"),
        ({"format": "junit", "resourceUri": IMAGE, "suite": "e2e\x07"}, "suite must not hold control characters"),
        ({"format": "junit", "resourceUri": IMAGE, "suite": "e" * 256}, "suite must be at most 255 characters"),
        ({"format": "trivy", "resourceUri": IMAGE, "suite": "e2e"}, "a trivy report has none"),
    ],
)
def test_bad_ingest_requests_are_400(http, project, params, message):
    data = (FIXTURES / "junit/pytest-passed.xml").read_bytes()
    r = http.post(f"/v1/projects/{project}/occurrences:ingest", params=params, data=data)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


def test_plan_batches_from_the_command_line_client(http, project):
    note = f"projects/{project}/notes/CVE-2024-9"
    body = {
        "notes": {note: NOTE_BODIES["VULNERABILITY"]},
        "occurrences": [{"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)}],
    }
    path = f"/v1/projects/{project}/occurrences:ingest"
    assert http.post(path, params={"format": "plan"}, json=body).json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "notesCreated": 1,
    }
    assert http.post(path, params={"format": "plan"}, json=body).json()["unchanged"] == 1
    body["occurrences"][0]["key"] = "nope"
    r = http.post(path, params={"format": "plan"}, json=body)
    assert r.status_code == 400 and "64 lowercase hex" in r.json()["error"]["message"]
    body["occurrences"][0] = {"key": "b" * 64, "occurrence": occurrence_body("BUILD", note, IMAGE)}
    r = http.post(path, params={"format": "plan"}, json=body)
    assert r.status_code == 400 and "does not match the kind" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "project_id, says",
    [
        ("p" * 256, "must be at most 255 characters"),
        ("..", "/notes/n1'] must not be '.' or '..'"),
        ("a\x00b", "must not contain the NUL character"),
    ],
)
def test_a_plan_note_in_a_project_no_url_can_name_is_refused(http, project, project_id, says):
    """Such notes were stored, and could then be neither read nor deleted (a NUL was a 500 on PostgreSQL)."""
    good = f"projects/{project}/notes/fine"
    body = {"notes": {good: NOTE_BODIES["PACKAGE"], f"projects/{project_id}/notes/n1": NOTE_BODIES["PACKAGE"]}}
    r = http.post(f"/v1/projects/{project}/occurrences:ingest", params={"format": "plan"}, json=body)
    message = r.json()["error"]["message"]
    assert r.status_code == 400 and message.startswith("the project id of notes['projects/") and says in message
    assert http.get(f"/v1/{good}").status_code == 404  # nothing written
    occurrence = occurrence_body("PACKAGE", f"projects/{project_id}/notes/n1", IMAGE)
    r = http.post(f"/v1/projects/{project}/occurrences", json=occurrence)
    expected = "occurrence.noteName: text may not" if "\x00" in project_id else "the project id of noteName must"
    assert r.status_code == 400 and expected in r.json()["error"]["message"], r.text


def test_concurrent_retries_of_one_plan_create_it_once(base_url, project):
    """CI retrying while its first post is still being written: the twins race for the same ids."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    import requests

    note = f"projects/{project}/notes/CVE-2024-7"
    body = {
        "notes": {note: NOTE_BODIES["VULNERABILITY"]},
        "occurrences": [
            {"key": hashlib.sha256(str(i).encode()).hexdigest(), "occurrence": occurrence_body("VULNERABILITY", note)}
            for i in range(120)  # above the size that storage writes with COPY on PostgreSQL
        ],
    }
    url = f"{base_url}/v1/projects/{project}/occurrences:ingest"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.post(url, params={"format": "plan"}, json=body), range(4)))
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert sum(r.json()["created"] for r in answers) == 120
    assert sum(r.json()["notesCreated"] for r in answers) == 1
    assert (
        len(
            requests.get(f"{base_url}/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json()[
                "occurrences"
            ]
        )
        == 120
    )


def test_concurrent_rescans_that_change_a_finding_update_it_once(base_url, http, project):
    """Twins of a changed rescan race to update the same occurrence: one updates, the others find it done."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    note = f"projects/{project}/notes/CVE-2024-7"
    first = occurrence_body("VULNERABILITY", note)
    body = {"notes": {note: NOTE_BODIES["VULNERABILITY"]}, "occurrences": [{"key": "c" * 64, "occurrence": first}]}
    url = f"{base_url}/v1/projects/{project}/occurrences:ingest"
    assert requests.post(url, params={"format": "plan"}, json=body).json()["created"] == 1
    changed = {**first, "vulnerability": {**first["vulnerability"], "effectiveSeverity": "CRITICAL"}}
    body["occurrences"][0]["occurrence"] = changed
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.post(url, params={"format": "plan"}, json=body), range(4)))
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert sorted(r.json()["updated"] for r in answers) == [0, 0, 0, 1]
    [stored] = occurrences(http, project)
    revisions = http.get(f"/v1/{stored['name']}:history").json()["revisions"]
    assert [r["action"] for r in revisions] == ["CREATE", "UPDATE"]


def test_the_gate_judges_what_was_ingested(http, project):
    policies = f"/v1/projects/{project}/policies"
    policy = {"rules": {"tests": {}, "scan": {"maxAge": "36500d"}}}
    assert http.post(policies, params={"policyId": "ci"}, json=policy).status_code == 200

    def decide():
        return http.post(f"{policies}/ci:evaluate", json={"resourceUri": IMAGE}).json()

    assert {v["rule"] for v in decide()["violations"]} == {"tests", "scan"}
    ingest(http, project, "trivy", "trivy/clean-image.json")
    ingest(http, project, "junit", "junit/pytest-passed.xml")
    assert decide()["decision"] == "ALLOW"

    failed = f"https://registry.example.com/payments/other@sha256:{DIGEST[::-1]}"
    ingest(http, project, "junit", "junit/gradle-failed.xml", resource=failed)
    denied = http.post(f"{policies}/ci:evaluate", json={"resourceUri": failed}).json()
    assert "tests" in {v["rule"] for v in denied["violations"]}


def test_the_gate_denies_a_junit_report_whose_suite_failed_to_load(http, project):
    """The suite counts an error but lists no test: the report must not pass as the other suite's tests."""
    from tests.unit.ingest.test_attestations import SUITE_THAT_FAILED_TO_LOAD

    policies = f"/v1/projects/{project}/policies"
    assert http.post(policies, params={"policyId": "ci"}, json={"rules": {"tests": {}}}).status_code == 200
    assert post_report(http, project, "junit", SUITE_THAT_FAILED_TO_LOAD).status_code == 200
    decision = http.post(f"{policies}/ci:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    assert [v["code"] for v in decision["violations"]] == ["TEST_FAILED"]


def judged_by_tests_rule(http, project):
    """A policy with only the tests rule; returns a function judging IMAGE by it."""
    policies = f"/v1/projects/{project}/policies"
    assert http.post(policies, params={"policyId": "ci"}, json={"rules": {"tests": {}}}).status_code == 200
    return lambda: http.post(f"{policies}/ci:evaluate", json={"resourceUri": IMAGE}).json()


def post_junit(http, project, report: bytes, **params):
    r = post_report(http, project, "junit", report, **params)
    assert r.status_code == 200, r.text


def test_a_passing_rerun_of_the_same_tests_replaces_the_failed_run(http, project):
    decide = judged_by_tests_rule(http, project)
    post_junit(http, project, junit_report("e2e", {"checkout": False, "login": True}))
    assert [v["code"] for v in decide()["violations"]] == ["TEST_FAILED"]
    post_junit(http, project, junit_report("e2e", {"login": True, "checkout": True}))  # a flaky test passed
    assert decide()["decision"] == "ALLOW"


def test_other_tests_passing_do_not_hide_a_failed_suite(http, project):
    decide = judged_by_tests_rule(http, project)
    post_junit(http, project, junit_report("e2e", {"checkout": False, "login": True}))
    post_junit(http, project, junit_report("unit", {"rounding": True, "refunds": True}))
    decision = decide()
    assert decision["decision"] == "DENY" and [v["code"] for v in decision["violations"]] == ["TEST_FAILED"]


def test_a_named_suite_is_replaced_by_its_own_rerun_only(http, project):
    decide = judged_by_tests_rule(http, project)
    post_junit(http, project, junit_report("tests", {"checkout": False}), suite="e2e")
    post_junit(http, project, junit_report("tests", {"checkout": True}), suite="unit")  # the same test names
    assert decide()["decision"] == "DENY"
    # A rerun of the suite replaces its result even when it ran other tests.
    post_junit(http, project, junit_report("tests", {"checkout": True, "login": True}), suite="e2e")
    assert decide()["decision"] == "ALLOW"
    configurations = [
        envelope_statement(o["dsseAttestation"]["envelope"])["predicate"]["configuration"]
        for o in occurrences(http, project)
    ]
    assert sorted(c[0]["name"] for c in configurations) == ["junit:e2e", "junit:e2e", "junit:unit"]


def two_snakeyamls() -> bytes:
    """A Trivy scan finding CVE-2022-1471 in the snakeyaml 1.33 the SBOM's VEX assesses, and in a 1.30."""
    report = json.loads((FIXTURES / "trivy/alpine-app-image.json").read_bytes())
    [jar] = [result for result in report["Results"] if result["Target"] == "app/payments-api.jar"]
    [snakeyaml] = [v for v in jar["Vulnerabilities"] if v["VulnerabilityID"] == "CVE-2022-1471"]
    older = snakeyaml | {"InstalledVersion": "1.30", "PkgIdentifier": {"PURL": "pkg:maven/org.yaml/snakeyaml@1.30"}}
    older["PkgPath"] = "app/payments-api.jar/BOOT-INF/lib/legacy-client.jar/snakeyaml-1.30.jar"
    report["Results"] = [jar | {"Vulnerabilities": [snakeyaml, older]}]
    return json.dumps(report).encode()


def snakeyaml_findings(http, project) -> dict[str, dict]:
    """The scan's two findings, by installed version."""
    found = occurrences(http, project, 'kind="VULNERABILITY"')
    return {f["vulnerability"]["packageIssue"][0]["affectedVersion"]["name"]: f for f in found}


def test_a_vex_document_ingested_after_the_scan_is_copied_onto_the_findings_it_assesses(http, project):
    """As Artifact Analysis copies `load-vex` states onto occurrences: the gate reads VEX from findings
    only, so an assessment note alone changed no decision. Only the finding in the assessed package gets it,
    and a rescan, which says nothing of VEX, keeps it."""
    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    summary = ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json").json()
    assert summary["updated"] == 1, summary
    notes = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1000}).json()["notes"]
    [vex] = [n for n in notes if "CVE-2022-1471" in n.get("shortDescription", "")]
    findings = snakeyaml_findings(http, project)
    assert findings["1.33"]["vulnerability"]["vexAssessment"] == {
        "vulnerabilityId": "CVE-2022-1471",
        "noteName": vex["name"],
        "state": "NOT_AFFECTED",
        "justification": {
            "justificationType": "VULNERABLE_CODE_NOT_IN_EXECUTE_PATH",
            "details": vex["vulnerabilityAssessment"]["assessment"]["justification"]["details"],
        },
        "relatedUris": [{"url": "https://nvd.nist.gov/vuln/detail/CVE-2022-1471", "label": "NVD"}],
    }
    assert "vexAssessment" not in findings["1.30"]["vulnerability"]

    policies = f"/v1/projects/{project}/policies"
    policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}
    assert http.post(policies, params={"policyId": "vex"}, json=policy).status_code == 200
    decision = http.post(f"{policies}/vex:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    [violation] = decision["violations"]  # 1.33's is cleared
    assert "(in org.yaml:snakeyaml 1.30, fixed in 2.0)" in violation["message"]

    again = ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json").json()
    assert (again["created"], again["updated"]) == (0, 0)
    rescan = post_report(http, project, "trivy", two_snakeyamls()).json()
    assert (rescan["created"], rescan["updated"]) == (0, 0)
    assert snakeyaml_findings(http, project) == findings
    revisions = http.get(f"/v1/{findings['1.33']['name']}:history").json()["revisions"]
    assert [(r["action"], r.get("changedFields")) for r in revisions] == [
        ("CREATE", None),
        ("UPDATE", ["vulnerability.vexAssessment"]),
    ]


def test_a_vex_document_and_a_changed_rescan_racing_keep_both(base_url, http, project):
    """Both update the same finding: whichever commits second finds the other's revision, reads it again and
    keeps what it wrote (the rescan keeps the copy, the VEX copies onto the rescanned finding)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    report = json.loads(two_snakeyamls())
    url = f"{base_url}/v1/projects/{project}/occurrences:ingest"
    sbom = (FIXTURES / "cyclonedx/payments-api-1.6.cdx.json").read_bytes()
    for severity in ("MEDIUM", "LOW", "CRITICAL"):  # it was HIGH: each round changes the finding
        for finding in report["Results"][0]["Vulnerabilities"]:
            finding["Severity"] = severity
        rescan = json.dumps(report).encode()
        posts = [
            ({"format": "trivy", "resourceUri": IMAGE}, rescan),
            ({"format": "cyclonedx", "resourceUri": IMAGE}, sbom),
        ]
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda post: requests.post(url, params=post[0], data=post[1]), posts))
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        finding = snakeyaml_findings(http, project)["1.33"]["vulnerability"]
        assert finding["effectiveSeverity"] == severity, finding
        assert finding["vexAssessment"]["state"] == "NOT_AFFECTED", finding


def test_a_rescan_written_between_the_vex_copys_read_and_its_write_is_kept(base_url, http, project, monkeypatch):
    """The copy is the whole finding as the VEX read it: written over a rescan committed meanwhile, it put
    back the old severity (seen in CI). It now names the revision it read, is Aborted, and reads again."""
    import requests

    from grafeas_py.ingest.service import Ingest

    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    report = json.loads(two_snakeyamls())
    for finding in report["Results"][0]["Vulnerabilities"]:
        finding["Severity"] = "LOW"  # it was HIGH
    copy_of, rescans = Ingest.with_vex, []

    def copy_then_rescan(self, *args):
        copied = copy_of(self, *args)
        if copied[1] and not rescans:  # read, not written yet
            url = f"{base_url}/v1/projects/{project}/occurrences:ingest"
            rescans.append(
                requests.post(url, params={"format": "trivy", "resourceUri": IMAGE}, data=json.dumps(report))
            )
        return copied

    monkeypatch.setattr(Ingest, "with_vex", copy_then_rescan)
    summary = ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json")
    assert summary.status_code == 200 and summary.json()["updated"] == 1, summary.text
    assert rescans[0].status_code == 200 and rescans[0].json()["updated"] == 2, rescans[0].text
    findings = snakeyaml_findings(http, project)
    assert {v: f["vulnerability"]["effectiveSeverity"] for v, f in findings.items()} == {"1.33": "LOW", "1.30": "LOW"}
    assert findings["1.33"]["vulnerability"]["vexAssessment"]["state"] == "NOT_AFFECTED"


@pytest.mark.parametrize(
    "fmt, fixture, notes",
    [("openvex", "openvex/payments-api.openvex.json", 5), ("csaf", "csaf/payments-api.csaf.json", 4)],
)
def test_a_vex_document_is_copied_onto_the_findings_its_statements_are_about(http, project, fmt, fixture, notes):
    """snakeyaml's assessment (OpenVEX: the later statement), libcrypto3's finding and not libssl3's of the same
    CVE, requests' under its GHSA alias; log4j's statement is about another image's digest and clears nothing."""
    assert ingest(http, project, "trivy", "trivy/alpine-app-image.json").status_code == 200
    r = ingest(http, project, fmt, fixture)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("created", "updated", "notesCreated")} == {
        "created": 0,
        "updated": 3,
        "notesCreated": notes,
    }
    states = {
        (o["noteName"].rsplit("/", 1)[1], o["vulnerability"]["packageIssue"][0]["affectedPackage"]): o["vulnerability"]
        .get("vexAssessment", {})
        .get("state")
        for o in occurrences(http, project, 'kind="VULNERABILITY"')
    }
    assert states == {
        ("CVE-2022-1471", "org.yaml:snakeyaml"): "NOT_AFFECTED",
        ("CVE-2024-6119", "libcrypto3"): "AFFECTED",
        ("CVE-2024-6119", "libssl3"): None,
        ("GHSA-9wx4-h78v-vm56", "requests"): "NOT_AFFECTED",
        ("CVE-2021-44228", "org.apache.logging.log4j:log4j-core"): None,
        ("CVE-2023-42366", "busybox"): None,
        ("CVE-2024-9143", "libcrypto3"): None,
        ("CVE-2019-14697", "musl"): None,
    }

    policies = f"/v1/projects/{project}/policies"
    policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW"}}}
    assert http.post(policies, params={"policyId": "vex"}, json=policy).status_code == 200
    decision = http.post(f"{policies}/vex:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    denied = " ".join(v["message"] for v in decision["violations"])
    assert "CVE-2021-44228" in denied and "CVE-2024-6119" in denied
    assert "CVE-2022-1471" not in denied and "GHSA-9wx4-h78v-vm56" not in denied

    again = ingest(http, project, fmt, fixture).json()
    assert (again["created"], again["updated"], again["notesCreated"]) == (0, 0, 0)


def test_an_openvex_document_about_other_images_only_is_400_and_writes_nothing(http, project):
    """Posted for the wrong image, say: it would change nothing here, and the caller should hear so."""
    assert ingest(http, project, "trivy", "trivy/alpine-app-image.json").status_code == 200
    vex = json.loads((FIXTURES / "openvex/payments-api.openvex.json").read_bytes())
    vex["statements"] = [vex["statements"][-1]]  # log4j's, about the canary image
    r = post_report(http, project, "openvex", json.dumps(vex).encode())
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
    assert r.json()["error"]["message"].startswith(f"invalid openvex report: statements: none is about {IMAGE!r}")
    notes = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1000}).json().get("notes", [])
    assert not [n for n in notes if "vulnerabilityAssessment" in n]
    assert all("vexAssessment" not in o["vulnerability"] for o in occurrences(http, project, 'kind="VULNERABILITY"'))


def test_an_attested_openvex_about_another_image_clears_nothing_here(http, project):
    """`vexctl attest` of another image's VEX, posted for this one: its package statements are about
    that image's packages, so this image's findings keep counting."""
    assert ingest(http, project, "trivy", "trivy/alpine-app-image.json").status_code == 200
    vex = json.loads((FIXTURES / "openvex/payments-api.openvex.json").read_bytes())
    other = "9e8d7c6b5a49382716059f8e7d6c5b4a39281706f5e4d3c2b1a0998877665544"
    attestation = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.com/other", "digest": {"sha256": other}}],
        "predicateType": "https://openvex.dev/ns/v0.2.0",
        "predicate": {**vex, "statements": [s for s in vex["statements"] if "pkg:apk" in json.dumps(s)]},
    }
    assert attestation["predicate"]["statements"], "the fixture has a package statement"
    r = post_report(http, project, "openvex", json.dumps(attestation).encode())
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
    assert f"subjects (sha256:{other}) do not include its digest" in r.json()["error"]["message"]
    assert all("vexAssessment" not in o["vulnerability"] for o in occurrences(http, project, 'kind="VULNERABILITY"'))


def test_a_vex_document_is_copied_onto_a_finding_whose_note_was_deleted(http, project):
    """Kept after its note went, the finding is judged at the worst severity its note could have given;
    an assessment the publisher made of it must still reach it."""
    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    assert http.delete(f"/v1/projects/{project}/notes/CVE-2022-1471").status_code == 200
    summary = ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json")
    assert summary.status_code == 200 and summary.json()["updated"] == 1, summary.text
    findings = snakeyaml_findings(http, project)
    assert findings["1.33"]["vulnerability"]["vexAssessment"]["state"] == "NOT_AFFECTED"
    assert "vexAssessment" not in findings["1.30"]["vulnerability"]


def test_a_plan_carrying_a_vex_note_copies_it_onto_its_own_findings_and_the_stored_ones(http, project):
    """A client that maps its own VEX (format=plan) gets what the CycloneDX path gets: a finding created with
    the note in the same plan carries the assessment too, and a stored one on another package does not."""
    cve = f"projects/{project}/notes/CVE-2024-3094"
    stored = occurrence_body("VULNERABILITY", cve, IMAGE)
    path = f"/v1/projects/{project}/occurrences:ingest"
    first = {"notes": {cve: NOTE_BODIES["VULNERABILITY"]}, "occurrences": [{"key": "a" * 64, "occurrence": stored}]}
    assert http.post(path, params={"format": "plan"}, json=first).json()["created"] == 1
    vex = f"projects/{project}/notes/vex-xz"
    assessment = json.loads(json.dumps(NOTE_BODIES["VULNERABILITY_ASSESSMENT"]))
    assessment["vulnerabilityAssessment"]["product"] = {"name": "app", "genericUri": IMAGE, "id": "cpe:/o:xz"}
    in_xz = occurrence_body("VULNERABILITY", cve, IMAGE)
    for issue in in_xz["vulnerability"]["packageIssue"]:
        issue.update(affectedCpeUri="cpe:/o:xz", fixedCpeUri="cpe:/o:xz")
    second = {"notes": {vex: assessment}, "occurrences": [{"key": "b" * 64, "occurrence": in_xz}]}
    summary = http.post(path, params={"format": "plan"}, json=second).json()
    assert (summary["created"], summary["updated"], summary["notesCreated"]) == (1, 0, 1), summary
    found = {o["vulnerability"]["packageIssue"][0]["affectedCpeUri"]: o for o in occurrences(http, project)}
    assert found["cpe:/o:xz"]["vulnerability"]["vexAssessment"] == {
        "vulnerabilityId": "CVE-2024-3094",
        "state": "NOT_AFFECTED",
        "noteName": vex,
    }
    assert "vexAssessment" not in found["cpe:/o:debian:debian_linux:12"]["vulnerability"]


def test_vex_for_an_artifact_with_more_occurrences_than_the_gate_reads_is_refused(http, project, monkeypatch):
    from grafeas_py.gate import service

    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    monkeypatch.setattr(service, "MAX_OCCURRENCES", 1)  # 20,000 in production
    r = ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json")
    assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION", r.text
    assert r.json()["error"]["message"] == (
        f"{IMAGE!r} has more than 1 occurrences in project {project!r}: the VEX assessments cannot be copied "
        "onto its findings; nothing was written"
    )
    assert len(occurrences(http, project)) == 3  # the two findings and the scan: no SBOM, no packages
    assert all("vexAssessment" not in f["vulnerability"] for f in snakeyaml_findings(http, project).values())


def test_a_vex_assessment_of_one_package_does_not_clear_the_same_cve_in_another(http, project):
    """The SBOM's VEX says CVE-2022-1471 does not affect snakeyaml 1.33. The image also holds a snakeyaml
    1.30, which nobody assessed. A client that copies the assessment onto every finding of the CVE, as
    Artifact Analysis copies `load-vex` states onto occurrences, must not get the other one let through."""
    assert ingest(http, project, "cyclonedx", "cyclonedx/payments-api-1.6.cdx.json").status_code == 200
    notes = http.get(f"/v1/projects/{project}/notes", params={"pageSize": 1000}).json()["notes"]
    [vex] = [
        n for n in notes if n.get("vulnerabilityAssessment", {}).get("assessment", {}).get("state") == "NOT_AFFECTED"
    ]
    assert vex["vulnerabilityAssessment"]["product"]["id"] == "pkg:maven/org.yaml/snakeyaml@1.33"

    assert post_report(http, project, "trivy", two_snakeyamls()).status_code == 200
    findings = occurrences(http, project, 'kind="VULNERABILITY"')
    assert len(findings) == 2
    for finding in findings:
        assessment = {"vulnerabilityId": "CVE-2022-1471", "noteName": vex["name"], "state": "NOT_AFFECTED"}
        body = {"vulnerability": finding["vulnerability"] | {"vexAssessment": assessment}}
        r = http.patch(f"/v1/{finding['name']}", params={"updateMask": "vulnerability"}, json=body)
        assert r.status_code == 200, r.text

    policies = f"/v1/projects/{project}/policies"
    policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}
    assert http.post(policies, params={"policyId": "vex"}, json=policy).status_code == 200
    decision = http.post(f"{policies}/vex:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    [violation] = decision["violations"]  # snakeyaml 1.33's is cleared, 1.30's is not
    assert "(in org.yaml:snakeyaml 1.30, fixed in 2.0)" in violation["message"]
    assert "covers only pkg:maven/org.yaml/snakeyaml@1.33" in violation["message"]
    assert vex["name"] in violation["evidence"]


def test_the_gate_sees_each_cve_of_a_clair_advisory_at_its_own_severity(http, project):
    """Clair names each CVE a Red Hat advisory fixes after the advisory: the HIGH one must not hide behind a LOW."""
    summary = ingest(http, project, "clair", "clair/rhsa-one-name-many-cves.json").json()
    assert summary["created"] == 4 and summary["notesCreated"] == 2
    severities = [o["vulnerability"]["effectiveSeverity"] for o in occurrences(http, project, 'kind="VULNERABILITY"')]
    assert sorted(severities) == ["HIGH", "LOW", "MEDIUM"]
    policies = f"/v1/projects/{project}/policies"
    policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}
    assert http.post(policies, params={"policyId": "no-high"}, json=policy).status_code == 200
    decision = http.post(f"{policies}/no-high:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    [violation] = decision["violations"]
    assert violation["code"] == "SEVERITY_EXCEEDED" and "severity HIGH" in violation["message"]


def test_an_advisory_id_the_note_id_cannot_hold_stays_readable(http, project):
    """A note id cannot hold the ':' of openSUSE-SU-2020:0062-1, so the descriptions keep the advisory id.

    The fixture is one finding of Trivy's own opensuse-leap-151 test report, unchanged.
    """
    assert ingest(http, project, "trivy", "trivy/opensuse-advisory-with-colon.json").status_code == 200
    [occurrence] = occurrences(http, project, 'kind="VULNERABILITY"')
    assert occurrence["noteName"] == f"projects/{project}/notes/openSUSE-SU-2020-0062-1-f914a31a"  # as before
    expected = "openSUSE-SU-2020:0062-1: Security update for openssl-1_1"
    assert occurrence["vulnerability"]["shortDescription"] == expected
    assert http.get(f"/v1/{occurrence['noteName']}").json()["shortDescription"] == expected


@pytest.mark.parametrize("fixture", ["slsa/payments-api.provenance.json", "slsa/payments-api.provenance.dsse.json"])
def test_slsa_provenance_counts_only_for_the_digest_it_built(http, project, fixture):
    """Provenance of another image, ingested under this one's URI, made the gate's provenance rule pass."""
    policies = f"/v1/projects/{project}/policies"
    rule = {"builderIds": ["https://github.com/actions/runner/**"], "sourceUris": ["https://github.com/example-corp/*"]}
    assert http.post(policies, params={"policyId": "p"}, json={"rules": {"provenance": rule}}).status_code == 200
    other = IMAGE.replace(DIGEST, "b" * 64)
    for resource in (IMAGE, other):
        assert ingest(http, project, "slsa", fixture, resource=resource).status_code == 200
    assert http.post(f"{policies}/p:evaluate", json={"resourceUri": IMAGE}).json()["decision"] == "ALLOW"
    decision = http.post(f"{policies}/p:evaluate", json={"resourceUri": other}).json()
    assert [v["code"] for v in decision["violations"]] == ["SUBJECT_MISMATCH"], decision
    assert f"is for sha256:{DIGEST}, not for this artifact (sha256:{'b' * 64})" in decision["violations"][0]["message"]


def test_a_slsa_v0_2_build_invocation_id_is_kept(http, project):
    """SLSA v0.2 spells it buildInvocationID, Grafeas buildInvocationId.

    The fixture is slsa-github-generator v1.10.0's provenance for slsa-framework/example-package v14.2, unchanged.
    """
    assert ingest(http, project, "dsse", "dsse/slsa-github-generator-v0.2.intoto.jsonl").status_code == 200
    [occurrence] = occurrences(http, project)
    metadata = occurrence["dsseAttestation"]["statement"]["slsaProvenanceZeroTwo"]["metadata"]
    assert metadata["buildInvocationId"] == "8373487016-1"


def test_every_file_grype_found_a_package_in_is_kept(http, project):
    assert ingest(http, project, "grype", "grype/debian-app-image.json").status_code == 200
    [zlib] = [
        o["vulnerability"]["packageIssue"][0]
        for o in occurrences(http, project, 'kind="VULNERABILITY"')
        if o["vulnerability"]["packageIssue"][0]["affectedPackage"] == "zlib1g"
    ]
    paths = [location["filePath"] for location in zlib["fileLocation"]]
    assert paths == ["/usr/share/doc/zlib1g/copyright", "/var/lib/dpkg/status"]


def test_secrets_trivy_found_are_recorded_and_the_gate_denies_them(http, project):
    """A CI job ingests a Trivy report with exposed secrets; the deploy gate's secrets rule denies the image."""
    r = ingest(http, project, "trivy", "trivy/image-with-secrets.json")
    assert r.status_code == 200, r.text
    secrets = occurrences(http, project, 'kind="SECRET"')
    assert sorted(o["secret"]["locations"][0]["fileLocation"]["filePath"] for o in secrets) == [
        "app/.env",
        "app/.env",
        "app/keys/deploy.json",
    ]
    policies = f"/v1/projects/{project}/policies"
    for policy_id, rules in (
        ("strict", {"secrets": {}}),
        ("lenient", {"secrets": {"allowKinds": ["SECRET_KIND_UNKNOWN"]}}),
    ):
        assert http.post(policies, params={"policyId": policy_id}, json={"rules": rules}).status_code == 200
    strict = http.post(f"{policies}/strict:evaluate", json={"resourceUri": IMAGE}).json()
    assert strict["decision"] == "DENY"
    assert [v["code"] for v in strict["violations"]] == ["SECRET_EXPOSED"] * 3
    assert "app/keys/deploy.json:2" in " ".join(v["message"] for v in strict["violations"])
    lenient = http.post(f"{policies}/lenient:evaluate", json={"resourceUri": IMAGE}).json()
    assert [v["code"] for v in lenient["violations"]] == ["SECRET_EXPOSED"] * 2  # the AWS key has no Grafeas kind


def test_failed_trivy_checks_are_recorded_and_a_compliance_rule_can_name_them(http, project):
    assert ingest(http, project, "trivy", "trivy/image-with-misconfigurations.json").status_code == 200
    root_user = f"projects/{project}/notes/trivy-AVD-DS-0002"
    policies = f"/v1/projects/{project}/policies"
    r = http.post(policies, params={"policyId": "no-root"}, json={"rules": {"compliance": {"noteNames": [root_user]}}})
    assert r.status_code == 200, r.text
    decision = http.post(f"{policies}/no-root:evaluate", json={"resourceUri": IMAGE}).json()
    assert decision["decision"] == "DENY"
    [violation] = decision["violations"]
    assert violation["code"] == "NON_COMPLIANT"
    assert "Specify at least 1 USER command" in violation["message"] and "Dockerfile" in violation["message"]


# ---- a report is written whole or not at all -------------------------------------------------


def cyclonedx(names: list[str]) -> bytes:
    """A CycloneDX 1.6 BOM listing one npm library per name."""
    components = [{"type": "library", "name": n, "version": "1.0", "purl": f"pkg:npm/{n}@1.0"} for n in names]
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}).encode()


def post_report(http, project, fmt, data, **params):
    return http.post(
        f"/v1/projects/{project}/occurrences:ingest",
        params={"format": fmt, "resourceUri": IMAGE, **params},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def count(http, path, key):
    """How many items a list endpoint pages through."""
    total, token = 0, ""
    while True:
        page = http.get(path, params={"pageSize": 1000, "pageToken": token}).json()
        total += len(page.get(key, []))
        token = page.get("nextPageToken", "")
        if not token:
            return total


def stored(http, project, note_project):
    return count(http, f"/v1/projects/{note_project}/notes", "notes"), count(
        http, f"/v1/projects/{project}/occurrences", "occurrences"
    )


def test_an_sbom_without_licences_keeps_the_licences_an_earlier_one_declared(http, project):
    """A second SBOM of the same image from a tool that reads no licences knows less, not otherwise."""

    def bom(licence: str | None) -> bytes:
        component = {"type": "library", "name": "mongo-driver", "version": "1.0", "purl": "pkg:npm/mongo-driver@1.0"}
        if licence:
            component["licenses"] = [{"license": {"id": licence}}]
        return json.dumps(
            {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [component]}
        ).encode()

    def package() -> dict:
        [found] = occurrences(http, project, 'kind="PACKAGE"')
        return found

    assert post_report(http, project, "cyclonedx", bom("AGPL-3.0-only")).status_code == 200
    first = package()
    assert first["package"]["license"] == {"expression": "AGPL-3.0-only"}
    assert post_report(http, project, "cyclonedx", bom(None)).status_code == 200
    assert package() == first  # not even updated
    assert post_report(http, project, "cyclonedx", bom("MIT")).status_code == 200  # one that declares another
    assert package()["package"]["license"] == {"expression": "MIT"}


def test_a_package_named_like_the_sboms_own_note_gets_a_note_of_its_own(http, project):
    r = post_report(http, project, "cyclonedx", cyclonedx(["left-pad", "sbom-cyclonedx-1-6", "is-odd"]))
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 4 and r.json()["notesCreated"] == 4
    notes = f"projects/{project}/notes"
    assert http.get(f"/v1/{notes}/sbom-cyclonedx-1-6").json()["kind"] == "SBOM_REFERENCE"
    package = http.get(f"/v1/{notes}/sbom-cyclonedx-1-6-package").json()
    assert package["kind"] == "PACKAGE" and package["package"]["name"] == "sbom-cyclonedx-1-6"
    [occurrence] = occurrences(http, project, 'package.name="sbom-cyclonedx-1-6"')
    assert occurrence["noteName"] == package["name"]


def test_a_note_taken_by_another_kind_in_the_note_project_does_not_block_later_reports(http, project):
    """An SBOM listing a package called `trivy-scan` must not stop every later Trivy scan there."""
    assert post_report(http, project, "cyclonedx", cyclonedx(["trivy-scan"])).status_code == 200
    r = ingest(http, project, "trivy", "trivy/clean-image.json")
    assert r.status_code == 200, r.text
    [discovery] = occurrences(http, project, 'kind="DISCOVERY"')
    assert discovery["noteName"] == f"projects/{project}/notes/trivy-scan-discovery"
    assert http.get(f"/v1/projects/{project}/notes/trivy-scan").json()["kind"] == "PACKAGE"
    again = ingest(http, project, "trivy", "trivy/clean-image.json").json()
    assert again["unchanged"] == 1 and again["notesCreated"] == 0


def test_a_refused_report_writes_nothing_and_names_the_item_by_its_place_in_the_report(http, project):
    notes = f"{project}-notes"
    for note_id in ("lib-1100", "lib-1100-package"):  # the package's note and its alternative, both BUILD notes
        assert http.post(f"/v1/projects/{notes}/notes", params={"noteId": note_id}, json=NOTE_BODIES["BUILD"]).ok
    before = stored(http, project, notes)
    bom = cyclonedx([f"lib-{i}" for i in range(1200)])
    r = post_report(http, project, "cyclonedx", bom, noteProject=notes)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "occurrences[1101]" in message and "lib-1100" in message  # after the SBOM reference at [0]
    assert "occurrences[101]" not in message
    assert stored(http, project, notes) == before


def test_a_large_report_is_audited_in_entries_of_at_most_1000_ids(app, http, project):
    from tests.test_audit_trail import entries_after, last_seq

    storage = app.extensions["grafeas"].storage
    start = last_seq(storage)
    r = post_report(http, project, "cyclonedx", cyclonedx([f"lib-{i}" for i in range(1200)]))
    assert r.status_code == 200 and r.json()["created"] == 1201, r.text
    entries = [e for e in entries_after(storage, start) if e.resource == f"projects/{project}"]
    assert [(e.action, len(e.detail["ids"])) for e in entries] == [
        ("notes.batchCreate", 1000),
        ("notes.batchCreate", 201),
        ("occurrences.batchCreate", 1000),
        ("occurrences.batchCreate", 201),
    ]


def test_a_grype_finding_stored_before_its_source_was_in_its_key_is_updated_not_duplicated(http, project):
    """Grype's findings took the match's source into their key: a rescan finds those stored under the old key."""
    from tests.unit.ingest.support import ingest as plan_of

    plan = plan_of("grype", "grype/debian-app-image.json")
    [first] = [o for o in plan.occurrences if o.legacy_key][:1]
    body = {**first.body, "vulnerability": {**first.body["vulnerability"], "longDescription": "as stored before"}}
    notes = {name: note for name, note in plan.notes.items() if name == body["noteName"]}
    old = {"notes": notes, "occurrences": [{"key": first.legacy_key, "occurrence": body}]}
    r = http.post(f"/v1/projects/{project}/occurrences:ingest", params={"format": "plan"}, json=old)
    assert r.status_code == 200 and r.json()["created"] == 1, r.text
    r = ingest(http, project, "grype", "grype/debian-app-image.json")
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (len(plan.occurrences) - 1, 1), r.text
    assert len(occurrences(http, project)) == len(plan.occurrences)


@pytest.mark.parametrize("legacy, message", [("nope", "64 lowercase hex"), (7, "legacyKey")])
def test_a_plan_with_a_bad_legacy_key_writes_nothing(http, project, legacy, message):
    note = f"projects/{project}/notes/CVE-2024-9"
    item = {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE), "legacyKey": legacy}
    body = {"notes": {note: NOTE_BODIES["VULNERABILITY"]}, "occurrences": [item]}
    r = http.post(f"/v1/projects/{project}/occurrences:ingest", params={"format": "plan"}, json=body)
    assert r.status_code == 400 and "occurrences[0]" in r.text and message in r.text, r.text
    assert occurrences(http, project) == []


def test_a_plan_with_a_bad_key_writes_nothing(http, project):
    note = f"projects/{project}/notes/CVE-2024-9"
    body = {
        "notes": {note: NOTE_BODIES["VULNERABILITY"]},
        "occurrences": [
            {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)},
            {"key": "zz", "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)},
        ],
    }
    r = http.post(f"/v1/projects/{project}/occurrences:ingest", params={"format": "plan"}, json=body)
    assert r.status_code == 400 and "occurrences[1]" in r.json()["error"]["message"], r.text
    assert http.get(f"/v1/{note}").status_code == 404
    assert occurrences(http, project) == []


# ---- a rescan updates what changed ---------------------------------------------------------


def rescanned(changes: dict) -> bytes:
    """The Alpine Trivy report scanned again later, with `changes` made to the `requests` finding."""
    report = json.loads((FIXTURES / "trivy/alpine-app-image.json").read_bytes())
    report["CreatedAt"] = "2024-12-10T09:00:00Z"
    for result in report["Results"]:
        for finding in result.get("Vulnerabilities", []):
            if finding["VulnerabilityID"] == "GHSA-9wx4-h78v-vm56":
                finding.update(changes)
    return json.dumps(report).encode()


def test_a_rescan_that_changes_a_finding_updates_it(http, project):
    first = post_report(http, project, "trivy", rescanned({})).json()
    [finding] = occurrences(http, project, f'noteName="projects/{project}/notes/GHSA-9wx4-h78v-vm56"')
    assert finding["vulnerability"]["effectiveSeverity"] == "MEDIUM"

    raised = {"Severity": "CRITICAL", "FixedVersion": "2.32.3"}
    r = post_report(http, project, "trivy", rescanned(raised))  # same findings, same scan document otherwise
    assert r.status_code == 200, r.text
    findings = first["created"] - 1  # all but the scan's DISCOVERY; the rescan's own is new
    assert r.json() == {**r.json(), "created": 1, "updated": 1, "unchanged": findings - 1, "notesCreated": 0}
    now = http.get(f"/v1/{finding['name']}").json()
    assert now["vulnerability"]["effectiveSeverity"] == "CRITICAL"
    assert now["vulnerability"]["packageIssue"][0]["fixedVersion"]["name"] == "2.32.3"
    assert now["createTime"] == finding["createTime"] and now["updateTime"] > finding["updateTime"]
    revisions = http.get(f"/v1/{finding['name']}:history").json()["revisions"]
    assert [r["action"] for r in revisions] == ["CREATE", "UPDATE"]
    assert "vulnerability.effectiveSeverity" in revisions[1]["changedFields"]
    assert revisions[0]["occurrence"]["vulnerability"]["effectiveSeverity"] == "MEDIUM"


def scanned_as(reference: str) -> bytes:
    """The Alpine Trivy report of the same image, scanned by `reference` as the user typed it."""
    report = json.loads((FIXTURES / "trivy/alpine-app-image.json").read_bytes())
    report["ArtifactName"] = reference
    for result in report["Results"]:
        if result["Class"] == "os-pkgs":  # Trivy names them after the reference and the OS
            result["Target"] = f"{reference} (alpine 3.19.1)"
    return json.dumps(report).encode()


def test_a_rescan_by_another_reference_to_the_image_finds_the_same_os_package_findings(http, project):
    """Scanned by tag, then by digest: the same image, the same findings."""
    first = post_report(http, project, "trivy", scanned_as("registry.example.com/payments/api:1.4.2")).json()
    vulnerabilities = occurrences(http, project, 'kind="VULNERABILITY"')
    again = post_report(http, project, "trivy", scanned_as(f"registry.example.com/payments/api@sha256:{DIGEST}"))
    assert again.status_code == 200, again.text
    # Only the rescan's own DISCOVERY is new.
    assert again.json() == {**again.json(), "created": 1, "updated": 0, "unchanged": first["created"] - 1}
    assert occurrences(http, project, 'kind="VULNERABILITY"') == vulnerabilities


def test_a_rescan_after_the_upgrade_updates_os_package_findings_stored_under_their_old_keys(http, project):
    """Before, an OS package finding's key held the target Trivy names after the reference typed: what was
    stored so must be found again, not duplicated."""
    from grafeas_py.ingest import parse_report
    from tests.unit.ingest.support import NOW

    report = rescanned({})
    plan = parse_report("trivy", report, resource_uri=IMAGE, project=project, note_project=project, now=NOW)
    old = [{"key": o.legacy_key or o.key, "occurrence": o.body} for o in plan.occurrences]
    assert sum(1 for o in plan.occurrences if o.legacy_key) == 5  # the OS package findings
    path = f"/v1/projects/{project}/occurrences:ingest"
    r = http.post(path, params={"format": "plan"}, json={"notes": plan.notes, "occurrences": old})
    assert r.status_code == 200 and r.json()["created"] == len(old), r.text
    before = occurrences(http, project)

    again = post_report(http, project, "trivy", report).json()
    assert again == {**again, "created": 0, "updated": 0, "unchanged": len(old), "notesCreated": 0}
    changed = json.loads(report)
    changed["CreatedAt"] = "2024-12-11T09:00:00Z"
    changed["Results"][0]["Vulnerabilities"][0]["Severity"] = "CRITICAL"  # an OS package finding
    r = post_report(http, project, "trivy", json.dumps(changed).encode())
    assert r.json() == {**r.json(), "created": 1, "updated": 1}  # the new scan's DISCOVERY, the raised finding
    assert {o["name"] for o in occurrences(http, project, 'kind="VULNERABILITY"')} == {
        o["name"] for o in before if o["kind"] == "VULNERABILITY"
    }


def test_an_identical_rescan_writes_nothing(app, http, project):
    from tests.test_audit_trail import entries_after, last_seq

    storage = app.extensions["grafeas"].storage
    first = ingest(http, project, "trivy", "trivy/alpine-app-image.json").json()
    before = occurrences(http, project)
    start = last_seq(storage)
    again = ingest(http, project, "trivy", "trivy/alpine-app-image.json").json()
    assert again == {**again, "created": 0, "updated": 0, "unchanged": first["created"], "notesCreated": 0}
    assert occurrences(http, project) == before
    assert all(len(http.get(f"/v1/{o['name']}:history").json()["revisions"]) == 1 for o in before)
    assert [e for e in entries_after(storage, start) if project in e.resource] == []


def test_a_report_posted_again_with_another_note_project_keeps_its_occurrences_on_their_notes(http, project):
    first = ingest(http, project, "trivy", "trivy/alpine-app-image.json").json()
    before = occurrences(http, project)
    again = ingest(http, project, "trivy", "trivy/alpine-app-image.json", noteProject=f"{project}-vulnz").json()
    assert again == {**again, "created": 0, "updated": 0, "unchanged": first["created"]}
    assert occurrences(http, project) == before  # noteName is immutable, as in UpdateOccurrence


def test_a_plan_key_cannot_bring_a_deleted_occurrence_back_for_another_artifact(http, project):
    """Its history would read: created on one artifact, deleted, then on another."""
    note = f"projects/{project}/notes/CVE-2024-9"
    first = {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)}
    path = f"/v1/projects/{project}/occurrences:ingest"
    assert (
        http.post(
            path,
            params={"format": "plan"},
            json={"notes": {note: NOTE_BODIES["VULNERABILITY"]}, "occurrences": [first]},
        ).status_code
        == 200
    )
    [stored] = occurrences(http, project)
    assert http.delete(f"/v1/{stored['name']}").status_code == 200
    moved = {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE + "-other")}
    fresh = {"key": "b" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)}
    r = http.post(path, params={"format": "plan"}, json={"occurrences": [fresh, moved]})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert f"occurrences[1]: occurrence {stored['name']!r} was deleted from {IMAGE!r}" in message
    assert "cannot create it again for another artifact" in message
    assert occurrences(http, project) == []
    # For the artifact it was on, the key brings it back, its revisions going on after the tombstone.
    assert http.post(path, params={"format": "plan"}, json={"occurrences": [first]}).json()["created"] == 1
    revisions = http.get(f"/v1/{stored['name']}:history").json()["revisions"]
    assert [r["action"] for r in revisions] == ["CREATE", "DELETE", "CREATE"]


def test_a_plan_that_would_change_an_immutable_field_writes_nothing(http, project):
    note = f"projects/{project}/notes/CVE-2024-9"
    first = {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)}
    body = {"notes": {note: NOTE_BODIES["VULNERABILITY"]}, "occurrences": [first]}
    path = f"/v1/projects/{project}/occurrences:ingest"
    assert http.post(path, params={"format": "plan"}, json=body).status_code == 200
    moved = {"key": "a" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE + "-other")}
    fresh = {"key": "b" * 64, "occurrence": occurrence_body("VULNERABILITY", note, IMAGE)}
    r = http.post(path, params={"format": "plan"}, json={"occurrences": [fresh, moved]})
    assert r.status_code == 400 and "occurrences[1]: occurrence is invalid: resourceUri is immutable" in r.text
    assert len(occurrences(http, project)) == 1


def test_an_ingestion_leaves_a_note_another_request_created_meanwhile(app, http, project):
    """Two reports needing one note, both read before either wrote: the second found the note there at
    its write and answered 409 ABORTED (once the server's own retry lost too), though it would have left
    the note as it is anyway. Storage now does just that, and counts the note as not created by it."""
    from grafeas_py.api.http import decode
    from grafeas_py.service import Grafeas
    from grafeas_py.wire.grafeas_types import OCCURRENCE

    note = f"projects/{project}/notes/CVE-2024-7"
    theirs = {**NOTE_BODIES["VULNERABILITY"], "shortDescription": "theirs"}
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "CVE-2024-7"}, json=theirs).ok
    # What the second ingestion prepared when it read the note as missing: a document of its own for it,
    # and a finding on it.
    now = "2026-01-02T03:04:05Z"
    mine = {**theirs, "shortDescription": "mine", "name": note, "kind": "VULNERABILITY", "createTime": now}
    finding = decode(OCCURRENCE, occurrence_body("VULNERABILITY", note), "occurrence")
    storage = app.extensions["grafeas"].storage
    created = storage.ingest(
        project,
        {project: {"CVE-2024-7": {**mine, "updateTime": now}}},
        [Grafeas._new_occurrence(project, finding, now)],
        [],
    )
    assert created == 0
    assert http.get(f"/v1/{note}").json()["shortDescription"] == "theirs"
    assert [o["noteName"] for o in occurrences(http, project)] == [note]
