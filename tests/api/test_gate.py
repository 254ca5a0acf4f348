"""The deploy gate over HTTP: policies and revisions, evaluation with real signatures, recorded decisions."""

import base64
import json
import re
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from tests.factories import NOTE_BODIES, occurrence_body
from tests.unit.gate.builders import (
    DIGEST,
    OTHER_DIGEST,
    binauthz_claims,
    compact_jwt,
    results_payload,
    signer,
    simple_signing,
)

IMAGE = f"https://gcr.io/acme/app@sha256:{DIGEST}"
TAGGED = "https://gcr.io/acme/app:1.0"
PGP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pgp"
POLICY_DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"

VULN_POLICY = {"description": "no fixable HIGH", "rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def policies(http, project):
    return f"/v1/projects/{project}/policies"


def create(http, policies, policy_id, body):
    r = http.post(policies, params={"policyId": policy_id}, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def note(http, project, note_id, kind):
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES[kind])
    assert r.status_code == 200, r.text
    return r.json()["name"]


def occurrence(http, project, body):
    r = http.post(f"/v1/projects/{project}/occurrences", json=body)
    assert r.status_code == 200, r.text
    return r.json()["name"]


def evaluate(http, policies, policy_id, resource=IMAGE, **extra):
    r = http.post(f"{policies}/{policy_id}:evaluate", json={"resourceUri": resource, **extra})
    assert r.status_code == 200, r.text
    return r.json()


# ---- policies ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_json_policy_with_a_repeated_key_is_refused(http, policies, method):
    """The last value won: a stricter first one was dropped unseen (YAML's repeats were refused already)."""
    if method == "PATCH":
        create(http, policies, "dup", VULN_POLICY)
    text = '{"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW", "maximumFixableSeverity": "CRITICAL"}}}'
    path = f"{policies}/dup" if method == "PATCH" else f"{policies}?policyId=dup"
    r = http.request(method, path, data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "the key 'maximumFixableSeverity' appears twice in one object" in r.json()["error"]["message"]


def test_policy_lifecycle_keeps_every_revision(http, project, policies):
    created = create(http, policies, "prod", VULN_POLICY)
    assert created["name"] == f"projects/{project}/policies/prod"
    assert created["revision"] == 1 and created["rules"] == VULN_POLICY["rules"]
    assert http.get(f"{policies}/prod").json() == created

    changed = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "HIGH"}}, "revision": 99, "name": "x"}
    updated = http.patch(f"{policies}/prod", json=changed).json()
    assert updated["revision"] == 2 and updated["name"] == created["name"]  # output-only fields ignored
    assert updated["createTime"] == created["createTime"] and "description" not in updated
    same = http.patch(f"{policies}/prod", json=changed).json()
    assert same == updated  # the same document again: no revision 3 for decisions to cite

    assert http.delete(f"{policies}/prod").status_code == 200
    assert http.get(f"{policies}/prod").status_code == 404
    revisions = http.get(f"{policies}/prod/revisions").json()["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(1, "CREATE"), (2, "UPDATE"), (3, "DELETE")]
    assert all(r["name"] == created["name"] and r["principal"] == "anonymous" for r in revisions)
    assert revisions[0]["policy"] == created and "changedFields" not in revisions[0]
    changed_fields = ["description", "rules.vulnerabilities.maximumFixableSeverity"]  # as notes' history names them
    assert revisions[1]["changedFields"] == changed_fields and revisions[1]["policy"] == updated
    assert "policy" not in revisions[2]  # a tombstone
    assert http.get(f"{policies}/prod/revisions/1").json() == created

    again = create(http, policies, "prod", VULN_POLICY)
    assert again["revision"] == 4  # numbering continues, so a decision's revision stays unambiguous


def test_policy_from_yaml(http, policies):
    text = "rules:\n  vulnerabilities:\n    maximumFixableSeverity: LOW\n  scan:\n    maxAge: 24h\n"
    r = http.post(policies, params={"policyId": "y"}, data=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["scan"] == {"maxAge": "24h"}


def test_put_replaces_the_policy_with_a_yaml_document_as_patch_does(http, policies):
    create(http, policies, "y", VULN_POLICY)
    text = "description: scans only\nrules:\n  scan:\n    maxAge: 7d\n"
    r = http.put(f"{policies}/y", data=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2 and r.json()["description"] == "scans only"
    assert r.json()["rules"] == {"scan": {"maxAge": "7d"}}  # replaced: the vulnerability rule is gone
    assert http.get(f"{policies}/y").json() == r.json()
    bad = http.put(f"{policies}/y", data="rules: [unclosed", headers={"Content-Type": "application/yaml"})
    assert bad.status_code == 400 and "line" in bad.json()["error"]["message"]
    assert http.get(f"{policies}/y").json()["revision"] == 2  # nothing written


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("mask", ["updateMask", "update_mask"])
def test_an_update_mask_is_refused_not_ignored(http, policies, method, mask):
    """A policy is replaced whole: ignored, a mask naming its description would have dropped every rule."""
    created = create(http, policies, "masked", VULN_POLICY)
    r = getattr(http, method)(f"{policies}/masked", params={mask: "description"}, json={"description": "renamed"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "replaced whole" in r.json()["error"]["message"] and "updateMask" in r.json()["error"]["message"]
    assert http.get(f"{policies}/masked").json() == created  # nothing written


@pytest.mark.parametrize("method", ["put", "patch", "post"])
@pytest.mark.parametrize("body", [b"", b"  \n", None])
def test_a_policy_request_without_a_body_is_refused(http, policies, method, body):
    """Taken as `{}`, a PUT or PATCH without a body dropped every rule, and the gate then allowed anything."""
    created = create(http, policies, "kept", VULN_POLICY)
    url = f"{policies}?policyId=other" if method == "post" else f"{policies}/kept"
    r = getattr(http, method)(url, data=body, headers={"Content-Type": "application/json"} if body is not None else {})
    assert r.status_code == 400, r.text
    assert "no body" in r.json()["error"]["message"] and "policy document" in r.json()["error"]["message"]
    assert http.get(f"{policies}/kept").json() == created  # nothing written
    assert http.get(f"{policies}/other").status_code == 404
    assert create(http, policies, "explicitly-empty", {})["name"].endswith("/explicitly-empty")  # `{}` is a choice


LATE, EARLY = "9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+01:00"


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        ({"rules": {"vulnerabilities": {"maximumFixableSeverity": "HUGE"}}}, None, "maximumFixableSeverity"),
        ({"rules": {"colour": {}}}, None, "rules.colour"),
        ({"rules": {"scan": {"maxAge": "soon"}}}, None, "rules.scan.maxAge"),
        ({"rules": {"attestations": {"attestors": ["qa"]}}}, None, "unknown attestor 'qa'"),
        ({"occurrenceProjects": ["a/b"]}, None, "occurrenceProjects"),
        # No project can be named '*' (CreateProject refuses it): it read nothing, silently.
        ({"occurrenceProjects": ["*"]}, None, "occurrenceProjects[0]: '*' is not a wildcard here"),
        ({"occurrenceProjects": ["p" * 256]}, None, "at most 255 characters"),
        ("rules: [unclosed", "application/yaml", "line"),
        ("rules:\n  a: 1\n  a: 2\n", "application/yaml", "a"),
        # YAML can spell a lone surrogate, which is not text: a 500 at storage, or in the error itself.
        ('description: "\\ud800"', "application/yaml", "description: must not contain a lone surrogate"),
        ('"\\ud800": 1', "application/yaml", "'\\ud800': must not contain a lone surrogate"),
        # YAML scalars Python refuses to build: a ValueError out of the loader, a 500.
        (
            "rules:\n  vulnerabilities:\n    maximumCvssScore: " + "9" * 5000 + "\n",
            "application/yaml",
            "rules.vulnerabilities.maximumCvssScore: an integer of 5000 characters is too long",
        ),
        (
            "exemptions:\n  - {artifact: '**', rule: scan, justification: j, expires: 2026-13-01}\n",
            "application/yaml",
            "exemptions[0].expires: 2026-13-01 is not a valid date or time: month must be in 1..12",
        ),
        # Times that fall outside the years 1 to 9999 in UTC: an OverflowError, a 500.
        (
            {"exemptions": [{"artifact": "**", "rule": "scan", "justification": "j", "expires": LATE}]},
            None,
            "exemptions[0].expires: must fall between the years 1 and 9999 in UTC",
        ),
        (
            {"rules": {"vulnerabilities": {"exemptions": [{"cve": "CVE-1", "justification": "j", "expires": EARLY}]}}},
            None,
            "rules.vulnerabilities.exemptions[0].expires: must fall between the years 1 and 9999 in UTC",
        ),
        (
            f"exemptions:\n  - {{artifact: '**', rule: scan, justification: j, expires: {LATE}}}\n",
            "application/yaml",
            "exemptions[0].expires: must fall between the years 1 and 9999 in UTC",
        ),
        (
            f"exemptions:\n  - {{artifact: '**', rule: scan, justification: j, expires: {EARLY}}}\n",
            "application/yaml",
            "exemptions[0].expires: must fall between the years 1 and 9999 in UTC",
        ),
    ],
)
def test_invalid_policies_are_400_naming_the_field(http, policies, body, content_type, message):
    if content_type:
        r = http.post(policies, params={"policyId": "bad"}, data=body, headers={"Content-Type": content_type})
    else:
        r = http.post(policies, params={"policyId": "bad"}, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert message in r.json()["error"]["message"]
    assert http.get(f"{policies}/bad").status_code == 404  # nothing half-written


def test_duplicate_and_missing_policies(http, policies):
    create(http, policies, "p", VULN_POLICY)
    r = http.post(policies, params={"policyId": "p"}, json=VULN_POLICY)
    assert r.status_code == 409 and "already exists" in r.json()["error"]["message"]
    assert http.post(policies, json=VULN_POLICY).status_code == 400  # policyId is required
    assert http.patch(f"{policies}/nope", json=VULN_POLICY).status_code == 404
    assert http.delete(f"{policies}/nope").status_code == 404
    assert http.get(f"{policies}/nope/revisions").status_code == 404
    assert http.get(f"{policies}/p/revisions/7").status_code == 404
    assert http.get(f"{policies}/p/revisions/x").status_code == 400
    r = http.post(f"{policies}/nope:evaluate", json={"resourceUri": IMAGE})
    assert r.status_code == 404 and "policies/nope" in r.json()["error"]["message"]


def test_policies_list_in_pages(http, policies):
    for i in range(3):
        create(http, policies, f"p{i}", VULN_POLICY)
    first = http.get(policies, params={"pageSize": 2}).json()
    second = http.get(policies, params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    names = [p["name"].rsplit("/", 1)[1] for p in first["policies"] + second["policies"]]
    assert names == ["p0", "p1", "p2"] and "nextPageToken" not in second


# ---- evaluation ----------------------------------------------------------------------------


def test_a_fixable_high_vulnerability_is_denied_with_evidence_and_recorded(http, project, policies):
    cve = note(http, project, "CVE-2024-1", "VULNERABILITY")
    vuln = occurrence(http, project, occurrence_body("VULNERABILITY", cve, IMAGE))
    create(http, policies, "prod", VULN_POLICY)

    decision = evaluate(http, policies, "prod")
    assert decision["allowed"] is False and decision["decision"] == "DENY"
    assert decision["policy"] == f"projects/{project}/policies/prod" and decision["policyRevision"] == 1
    [violation] = decision["violations"]
    assert violation["rule"] == "vulnerabilities" and violation["mode"] == "enforce"
    assert "CVE-2024-1" in violation["message"] and "HIGH" in violation["message"]
    assert violation["evidence"] == [vuln]
    assert decision["usedOccurrences"] == [vuln]

    stored = http.get(f"/v1/{decision['name']}").json()
    assert stored == decision
    listed = http.get(f"/v1/projects/{project}/decisions", params={"filter": f'resourceUri="{IMAGE}"'}).json()
    assert [d["name"] for d in listed["decisions"]] == [decision["name"]]


def vulnerability_note(http, project, note_id, **given):
    """A VULNERABILITY note giving only the `given` fields (severity, cvssScore) besides its details."""
    details = NOTE_BODIES["VULNERABILITY"]["vulnerability"]["details"]
    body = {"vulnerability": {"details": details, **given}}
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=body)
    assert r.status_code == 200, r.text
    return r.json()["name"]


def unrated(note_name, **given):
    """A fixable VULNERABILITY occurrence on IMAGE that gives no severity and no CVSS score but `given`."""
    body = occurrence_body("VULNERABILITY", note_name, IMAGE)
    del body["vulnerability"]["effectiveSeverity"]
    body["vulnerability"].update(given)
    return body


def test_a_vulnerability_that_gives_no_severity_is_judged_by_its_notes(http, project, policies):
    """The occurrence's severity is the note provider's, which Container Analysis copies in: without it, a
    fixable vulnerability on a HIGH note passed a LOW maximum as if it were below MINIMAL."""
    provider = f"{project}-vulnz"
    high = vulnerability_note(http, provider, "CVE-1", severity="HIGH")
    unrated_note = vulnerability_note(http, provider, "CVE-2")
    on_high = occurrence(http, project, unrated(high))
    occurrence(http, project, unrated(unrated_note))  # no one rates it: unspecified, below LOW
    occurrence(http, project, unrated(high, severity="LOW"))  # its own severity wins over its note's
    create(http, policies, "low", {"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW"}}})

    decision = evaluate(http, policies, "low")
    assert decision["decision"] == "DENY", decision
    [violation] = decision["violations"]
    assert violation["code"] == "SEVERITY_EXCEEDED"
    assert "CVE-1 (in xz-utils 5.6.0, fixed in 5.6.1)" in violation["message"]
    assert "with severity HIGH (its note's: the occurrence gives none), above the maximum LOW" in violation["message"]
    assert violation["evidence"] == [on_high, high]  # the note may change after the decision
    assert len(decision["usedOccurrences"]) == 3


def test_a_deleted_note_never_lets_through_what_it_would_have_stopped(http, project, policies):
    """Its severity is unknown, and judged as the worst it could be; a limit nothing exceeds still allows."""
    provider = f"{project}-vulnz"
    gone = vulnerability_note(http, provider, "CVE-1", severity="HIGH")
    on_gone = occurrence(http, project, unrated(gone))
    assert http.delete(f"/v1/{gone}").status_code == 200
    create(http, policies, "low", {"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW"}}})
    create(http, policies, "lax", {"rules": {"vulnerabilities": {"maximumFixableSeverity": "CRITICAL"}}})

    decision = evaluate(http, policies, "low")
    assert decision["decision"] == "DENY", decision
    [violation] = decision["violations"]
    assert violation["code"] == "SEVERITY_UNKNOWN" and violation["evidence"] == [on_gone, gone]
    assert (
        f"with an unknown severity (the occurrence gives none, and its note {gone} no longer exists), "
        "judged as CRITICAL, above the maximum LOW for fixable vulnerabilities" in violation["message"]
    )
    assert evaluate(http, policies, "lax")["decision"] == "ALLOW"


# Severity as a Rego module reads it: the occurrence's own, else its note's; a deleted note is absent.
NOTE_SEVERITY_REGO = """\
package gate
import rego.v1

severity(o) := o.vulnerability.severity
severity(o) := input.notes[o.noteName].vulnerability.severity if not o.vulnerability.severity

deny contains {"msg": sprintf("%s is %s", [o.noteName, severity(o)]), "evidence": [o.name]} if {
  some o in input.occurrences
  severity(o) in {"HIGH", "CRITICAL"}
}

deny contains {"msg": sprintf("%s is gone", [o.noteName]), "code": "NOTE_GONE"} if {
  some o in input.occurrences
  not input.notes[o.noteName]
}
"""


def test_a_rego_module_reads_the_notes_of_the_occurrences(http, project, policies):
    """Rego's input carries the notes, so a module can judge a finding that leaves its severity to its
    note: with occurrences alone it saw no severity, and a HIGH finding passed."""
    pytest.importorskip("regopy")  # in the test extra, so CI always has it
    provider = f"{project}-vulnz"
    high = vulnerability_note(http, provider, "CVE-1", severity="HIGH")
    on_high = occurrence(http, project, unrated(high))
    occurrence(http, project, unrated(vulnerability_note(http, provider, "CVE-2")))  # no severity anywhere
    create(http, policies, "rego", {"rego": NOTE_SEVERITY_REGO})

    decision = evaluate(http, policies, "rego")
    assert [(v["code"], v["message"], v["evidence"]) for v in decision["violations"]] == [
        ("REGO_DENY", f"{high} is HIGH", [on_high])
    ]
    assert http.delete(f"/v1/{high}").status_code == 200
    gone = evaluate(http, policies, "rego")
    assert [(v["code"], v["message"]) for v in gone["violations"]] == [("NOTE_GONE", f"{high} is gone")]


def test_a_vulnerability_that_gives_no_cvss_score_is_judged_by_its_notes(http, project, policies):
    provider = f"{project}-vulnz"
    scored = vulnerability_note(http, provider, "CVE-1", severity="LOW", cvssV3={"baseScore": 9.8})
    on_scored = occurrence(http, project, unrated(scored, effectiveSeverity="LOW"))
    create(http, policies, "cvss", {"rules": {"vulnerabilities": {"maximumCvssScore": 7}}})

    [violation] = evaluate(http, policies, "cvss")["violations"]
    assert violation["code"] == "CVSS_EXCEEDED" and violation["evidence"] == [on_scored, scored]
    assert "with CVSS score 9.8 (its note's), above the maximum 7" in violation["message"]

    assert http.delete(f"/v1/{scored}").status_code == 200
    [violation] = evaluate(http, policies, "cvss")["violations"]
    assert violation["code"] == "CVSS_UNKNOWN", violation
    assert f"its note {scored} no longer exists), judged as 10, above the maximum 7" in violation["message"]


BARE = IMAGE.removeprefix("https://")
SPELLINGS = [
    IMAGE,
    BARE,
    IMAGE.replace("app@", "app:1.0@"),
    "HTTPS://GCR.IO/acme/app@sha256:" + DIGEST,
    "http://" + BARE,
    BARE.replace("gcr.io/", "gcr.io:443/"),  # the registry's default port: a runtime pulls the same image
    BARE.replace("gcr.io/", "gcr.io:0443/"),  # the same port, as a runtime reads it
    "docker://" + BARE,  # skopeo's and podman's transport
    "oci://" + BARE,  # Helm's and ORAS's
]
SPELLED = ["https", "bare", "tag-and-digest", "upper-case-host", "http", "default-port", "zero-port", "docker", "oci"]


@pytest.mark.parametrize("stored_at", SPELLINGS, ids=SPELLED)
@pytest.mark.parametrize("judged", SPELLINGS, ids=SPELLED)
def test_every_spelling_of_an_image_reads_the_same_occurrences(http, project, policies, stored_at, judged):
    # Read by the exact URI only, a vulnerability stored at X let https://X (or X:tag@digest) through;
    # read by a few spellings of the URI judged, one stored under a tag, http:// or capitals was not read.
    cve = note(http, project, "CVE-2024-1", "VULNERABILITY")
    vuln = occurrence(http, project, occurrence_body("VULNERABILITY", cve, stored_at))
    create(http, policies, "prod", VULN_POLICY)
    decision = evaluate(http, policies, "prod", judged)
    assert decision["decision"] == "DENY" and decision["usedOccurrences"] == [vuln], decision
    assert decision["resourceUri"] == judged
    other = evaluate(http, policies, "prod", IMAGE.replace("acme/app", "acme/other"))
    assert other["decision"] == "ALLOW" and not other.get("usedOccurrences")


@pytest.mark.parametrize(
    "stored_at",
    ["nginx", "docker.io/nginx", "https://index.docker.io/library/nginx", "registry-1.docker.io/library/nginx:1.25"],
)
def test_a_finding_stored_under_another_of_docker_hubs_names_counts(http, project, policies, stored_at):
    cve = note(http, project, "CVE-2024-1", "VULNERABILITY")
    vuln = occurrence(http, project, occurrence_body("VULNERABILITY", cve, f"{stored_at}@sha256:{DIGEST}"))
    create(http, policies, "prod", VULN_POLICY)
    decision = evaluate(http, policies, "prod", f"https://docker.io/library/nginx@sha256:{DIGEST}")
    assert decision["decision"] == "DENY" and decision["usedOccurrences"] == [vuln], decision


def test_a_finding_naming_its_note_with_a_location_counts(http, project, policies):
    # Stored as written, projects/P/locations/L/notes/N escaped a compliance rule on projects/P/notes/N.
    cis = note(http, project, "cis", "COMPLIANCE")
    body = occurrence_body("COMPLIANCE", cis.replace("/notes/", "/locations/global/notes/"), IMAGE)
    finding = occurrence(http, project, body)
    create(http, policies, "cis", {"rules": {"compliance": {"noteNames": [cis]}}})
    decision = evaluate(http, policies, "cis")
    assert decision["decision"] == "DENY" and decision["usedOccurrences"] == [finding], decision


def test_a_compliance_rule_warns_until_its_note_exists(http, project, policies):
    """A misspelt note would pass every artifact unseen; once the note exists the warning goes."""
    cis = f"projects/{project}/notes/cis"
    create(http, policies, "cis", {"rules": {"compliance": {"noteNames": [cis]}}})
    decision = evaluate(http, policies, "cis")
    assert decision["decision"] == "ALLOW_WITH_WARNINGS" and decision["allowed"] is True, decision
    [warning] = decision["warnings"]
    assert warning["code"] == "COMPLIANCE_NOTE_MISSING" and cis in warning["message"], warning
    note(http, project, "cis", "COMPLIANCE")
    decision = evaluate(http, policies, "cis")
    assert decision["decision"] == "ALLOW" and decision["warnings"] == [], decision


def test_a_package_declaring_no_licence_is_denied_by_its_notes_licence(http, project, policies):
    """A client that records a package's licence on its PackageNote, once, as Grafeas allows."""
    body = {"package": {"name": "mongo-driver", "license": {"expression": "AGPL-3.0-or-later"}}}
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "mongo-driver"}, json=body)
    assert r.status_code == 200, r.text
    driver = r.json()["name"]
    installed = {"package": {"name": "mongo-driver", "location": [{"cpeUri": "cpe:/a:mongodb:driver"}]}}
    found = occurrence(http, project, {"resourceUri": IMAGE, "noteName": driver, **installed})
    create(http, policies, "no-agpl", {"rules": {"packages": {"denyLicenses": ["AGPL-3.0-or-later"]}}})
    decision = evaluate(http, policies, "no-agpl")
    assert decision["decision"] == "DENY", decision
    [violation] = decision["violations"]
    assert violation["code"] == "LICENSE_DENIED" and violation["evidence"] == [found, driver], violation


def test_patterns_match_the_image_as_a_runtime_pulls_it(http, policies):
    create(http, policies, "hub", {"rules": {"artifacts": {"allowPatterns": ["**"], "denyPatterns": ["docker.io/**"]}}})
    digest = f"@sha256:{DIGEST}"
    images = ["index.docker.io/library/nginx", "registry-1.docker.io/library/nginx", "DOCKER.IO/nginx", "nginx"]
    images += ["docker.io:443/library/nginx", "registry-1.docker.io:443/library/nginx", "index.docker.io:443/nginx"]
    for image in images:
        decision = evaluate(http, policies, "hub", f"https://{image}{digest}")
        assert decision["decision"] == "DENY", (image, decision)
    assert evaluate(http, policies, "hub", f"https://gcr.io/acme/app{digest}")["decision"] == "ALLOW"


def test_deny_patterns_hold_for_every_spelling_of_what_they_name(http, policies):
    patterns = ["docker://docker.io/**", "oci://ghcr.io/evil/**", "gcr.io/evil/**", "https://repo.example.com/evil/**"]
    create(http, policies, "deny", {"rules": {"artifacts": {"denyPatterns": patterns}}})
    pinned = f"@sha256:{DIGEST}"
    uris = [f"nginx{pinned}", f"https://docker.io/library/nginx{pinned}", f"ghcr.io/evil/x{pinned}"]
    uris += [f"gcr.io:0443/evil/app{pinned}", f"registry-1.docker.io:0443/library/nginx{pinned}"]
    for spelling in [
        "https://REPO.example.com/evil",
        "HTTPS://repo.example.com:443/evil",
        "https://repo.example.com/x/../evil",
    ]:
        uris.append(f"{spelling}/app.jar#sha256={DIGEST}")
    uris.append(f"https://repo.example.com/%65vil/app.jar#sha256={DIGEST}")
    for uri in uris:
        decision = evaluate(http, policies, "deny", uri)
        assert [v["code"] for v in decision["violations"]] == ["ARTIFACT_DENIED"], (uri, decision)


def test_no_pattern_allows_or_exempts_a_uri_that_walks_out_of_it(http, policies):
    legacy = {"artifact": "https://repo.example.com/acme/legacy/**", "rule": "scan", "justification": "MIG-7"}
    rules = {"artifacts": {"allowPatterns": ["https://repo.example.com/acme/app/**"]}, "scan": {"maxAge": "1h"}}
    create(http, policies, "walk", {"rules": rules, "exemptions": [legacy]})
    walks = ["legacy/../../evil", "legacy/%2e%2e/%2e%2e/evil", "app/%2e%2e/evil", "app/.%2E/evil", "app/..\\evil"]
    for path in walks:
        decision = evaluate(http, policies, "walk", f"https://repo.example.com/acme/{path}/app.jar#sha256={DIGEST}")
        assert decision["decision"] == "DENY" and "exempted" not in decision and "allowPattern" not in decision, path
    decision = evaluate(http, policies, "walk", f"https://repo.example.com/acme/legacy/app.jar#sha256={DIGEST}")
    assert decision["decision"] == "ALLOW" and decision["exempted"][0]["code"] == "RULE_EXEMPTED", decision


OLD_REGISTRY_REGO = """\
package gate
import rego.v1

deny contains {"msg": msg, "code": "OLD_REGISTRY"} if {
  startswith(input.resourceUri, "https://eu.gcr.io/")
  msg := sprintf("%s (as written: %s) is in a deprecated registry", [input.resourceUri, input.resourceUriAsWritten])
}
"""


@pytest.mark.parametrize(
    "image",
    ["https://eu.gcr.io/acme/app", "eu.gcr.io/acme/app", "HTTPS://EU.GCR.IO/acme/app", "http://eu.gcr.io/acme/app:1.0"],
)
def test_rego_sees_the_image_as_patterns_do(http, policies, image):
    """docs/policy.md's own example rule: given the URI as written, it let every other spelling of the image through."""
    pytest.importorskip("regopy")
    create(http, policies, "old", {"rego": OLD_REGISTRY_REGO})
    judged = f"{image}@sha256:{DIGEST}"
    [violation] = evaluate(http, policies, "old", judged)["violations"]
    canonical = f"https://eu.gcr.io/acme/app@sha256:{DIGEST}"
    assert violation["code"] == "OLD_REGISTRY", violation
    assert violation["message"] == f"{canonical} (as written: {judged}) is in a deprecated registry"


VULNS_MEDIUM = {"maximumFixableSeverity": "MEDIUM", "maximumUnfixableSeverity": "MEDIUM"}


def _critical_finding(http, project, uri):
    note_name = f"projects/{project}/notes/cve-crit"
    if http.get(f"/v1/{note_name}").status_code == 404:
        note(http, project, "cve-crit", "VULNERABILITY")
    body = occurrence_body("VULNERABILITY", note_name, uri)
    body["vulnerability"] = {**body["vulnerability"], "effectiveSeverity": "CRITICAL"}
    return occurrence(http, project, body)


@pytest.mark.parametrize(
    "stored, judged",
    [
        ("https://gcr.io/acme/v10:latest", "https://gcr.io/acme/v10"),
        ("https://gcr.io/acme/v10:latest", "gcr.io/acme/v10"),
        ("https://gcr.io/acme/v10", "https://gcr.io/acme/v10:latest"),
        ("gcr.io/acme/v10", "http://GCR.IO/acme/v10:latest"),
        # Docker pulls LOCALHOST/app from the host localhost, not from Docker Hub's LOCALHOST/app.
        (f"https://localhost/app@sha256:{DIGEST}", f"LOCALHOST/app@sha256:{DIGEST}"),
        (f"https://localhost/app@sha256:{DIGEST}", f"https://Localhost/app@sha256:{DIGEST}"),
        # Judged under a spelling patterns read as the same image, it escaped the findings stored for it.
        (f"https://gcr.io/acme/app@sha256:{DIGEST}", f"gcr.io/acme/%61pp@sha256:{DIGEST}"),
        (f"https://gcr.io/acme/app@sha256:{DIGEST}", f"gcr.io/acme//app@sha256:{DIGEST}"),
        (f"https://gcr.io/acme/app@sha256:{DIGEST}", f"gcr.io/acme/x/../app@sha256:{DIGEST}"),
        ("gcr.io/acme/v10", "https://gcr.io/%61cme/v10"),
        # ... and stored under such a spelling, it was not read when the gate was asked about the plain one.
        (f"https://gcr.io/acme/%61pp@sha256:{DIGEST}", f"gcr.io/acme/app@sha256:{DIGEST}"),
        (f"https://gcr.io//acme/app@sha256:{DIGEST}", f"gcr.io/acme/app@sha256:{DIGEST}"),
        (f"http://gcr.io:80/acme/app@sha256:{DIGEST}", f"gcr.io/acme/app@sha256:{DIGEST}"),
        (f"gcr.io./acme/app@sha256:{DIGEST}", f"https://gcr.io/acme/app@sha256:{DIGEST}"),
    ],
)
def test_the_gate_reads_an_image_as_the_runtime_pulls_it(http, project, policies, stored, judged):
    """An image named without a tag runs as `:latest`, and a first segment in capitals is a host: each was
    judged as another image, without the findings stored for the one that runs (allowed by accident)."""
    rules = {"identity": {"allowTags": True}, "vulnerabilities": VULNS_MEDIUM}
    create(http, policies, "tags", {"rules": rules})
    finding = _critical_finding(http, project, stored)
    decision = evaluate(http, policies, "tags", judged)
    assert decision["decision"] == "DENY", decision
    assert [v["evidence"] for v in decision["violations"]] == [[finding]], decision


@pytest.mark.parametrize("judged", ["https://gcr.io/acme/v10", "gcr.io/acme/v10", "nginx"])
def test_a_latest_pattern_holds_for_an_image_named_without_a_tag(http, policies, judged):
    rules = {"identity": {"allowTags": True}, "artifacts": {"denyPatterns": ["**:latest"]}}
    create(http, policies, "no-latest", {"rules": rules})
    decision = evaluate(http, policies, "no-latest", judged)
    assert decision["decision"] == "DENY", decision
    assert evaluate(http, policies, "no-latest", judged + ":1.0")["decision"] == "ALLOW"


UNSTORABLE_REGO = r"""package gate
import rego.v1
deny contains "lone \ud800 surrogate" if { true }
deny contains {"msg": "a NUL \u0000 here", "code": "C\u0000", "evidence": ["x\udfff"]} if { true }
"""


def test_a_rego_message_no_database_can_store_still_denies_and_is_recorded(http, project, policies):
    """A lone surrogate (no UTF-8 for it) or NUL (no PostgreSQL text for it) in a message: every evaluation
    of the policy was a 500 when its decision was written."""
    pytest.importorskip("regopy")
    create(http, policies, "odd", {"rego": UNSTORABLE_REGO})
    decision = evaluate(http, policies, "odd")
    assert decision["decision"] == "DENY"
    found = sorted((v["code"], v["message"], v.get("evidence", [])) for v in decision["violations"])
    assert found == [("C\ufffd", "a NUL \ufffd here", ["x\ufffd"]), ("REGO_DENY", "lone \ufffd surrogate", [])], found
    recorded = http.get(f"/v1/projects/{project}/decisions").json()["decisions"]
    assert [d["name"] for d in recorded] == [decision["name"]]


PARSES_NOW = 'package gate\nimport rego.v1\ndeny contains "x" if { time.parse_rfc3339_ns(input.now) < 0 }\n'
PARSES_SCAN_TIME = """\
package gate
import rego.v1
deny contains "old" if {
  some o in input.occurrences
  time.parse_rfc3339_ns(o.discovery.lastScanTime) < input.nowNs
}
"""


def test_rego_reads_times_as_documented(http, project, policies):
    """regopy's time.parse_rfc3339_ns refuses the Z every time the gate gives Rego ends in: docs/policy.md's
    rule, on input.nowNs and its workaround, judges scan times; the plain call fails, saying why."""
    pytest.importorskip("regopy")
    rule = re.search(r"```rego\n(.*?)```", POLICY_DOC.read_text(), re.DOTALL).group(1)
    module = f"package gate\nimport rego.v1\n\n{textwrap.dedent(rule)}"
    create(http, policies, "scan-age", {"rego": module})
    discovery = note(http, project, "scans", "DISCOVERY")
    stale = occurrence(http, project, occurrence_body("DISCOVERY", discovery, IMAGE))  # scanned 2024-05-01
    decision = evaluate(http, policies, "scan-age")
    assert [(v["code"], v["evidence"]) for v in decision["violations"]] == [("SCAN_OLD", [])], decision
    assert decision["usedOccurrences"] == [stale]
    fresh = occurrence_body("DISCOVERY", discovery, IMAGE.replace("acme/app", "acme/fresh"))
    fresh["discovery"]["lastScanTime"] = decision["evaluateTime"]
    occurrence(http, project, fresh)
    assert evaluate(http, policies, "scan-age", fresh["resourceUri"])["decision"] == "ALLOW"

    prints_now = 'package gate\nimport rego.v1\nwarn contains sprintf("%v", [input.nowNs])'
    create(http, policies, "now-ns", {"rego": prints_now})
    decision = evaluate(http, policies, "now-ns")
    moment = datetime.fromisoformat(decision["evaluateTime"])
    assert int(decision["warnings"][0]["message"]) == round(moment.timestamp() * 1_000_000) * 1000

    r = http.post(policies, params={"policyId": "parses-now"}, json={"rego": PARSES_NOW})
    assert r.status_code == 400 and "a builtin function failed" in r.json()["error"]["message"], r.text
    create(http, policies, "parses-scan-time", {"rego": PARSES_SCAN_TIME})  # no scan on upload: nothing parsed
    [violation] = evaluate(http, policies, "parses-scan-time")["violations"]
    assert violation["code"] == "EVALUATION_ERROR" and "time.parse_rfc3339_ns" in violation["message"], violation


def test_breakglass_allows_and_is_recorded(app, http, project, policies):
    cve = note(http, project, "CVE-2024-2", "VULNERABILITY")
    occurrence(http, project, occurrence_body("VULNERABILITY", cve, IMAGE))
    create(http, policies, "prod", VULN_POLICY)
    decision = evaluate(http, policies, "prod", breakglass={"justification": "INC-42 outage"})
    assert decision["allowed"] is True and decision["breakglass"] == {"justification": "INC-42 outage"}
    assert decision["violations"]  # kept, so the override is visible
    # In the audit trail too, under its hash chain: decisions themselves are not chained.
    storage = app.extensions["grafeas"].storage
    storage.seal_audit(wait=10)
    [entry] = [e for e in storage.audit_entries() if e.resource == decision["name"]]
    assert entry.detail["breakglass"] == {"justification": "INC-42 outage"}
    denied = evaluate(http, policies, "prod")
    storage.seal_audit(wait=10)
    [entry] = [e for e in storage.audit_entries() if e.resource == denied["name"]]
    assert entry.detail["decision"] == "DENY" and "breakglass" not in entry.detail
    r = http.post(f"{policies}/prod:evaluate", json={"resourceUri": IMAGE, "breakglass": {"justification": " "}})
    assert r.status_code == 400 and "justification" in r.json()["error"]["message"]


def test_a_tag_is_denied_with_a_reason(http, policies):
    create(http, policies, "prod", {"rules": {}})
    decision = evaluate(http, policies, "prod", resource=TAGGED)
    assert decision["decision"] == "DENY"
    assert [v["code"] for v in decision["violations"]] == ["TAG_NOT_DIGEST"]
    assert "digest" in decision["violations"][0]["message"]


def test_never_scanned_is_not_clean_and_a_fresh_scan_passes(http, project, policies):
    create(http, policies, "scanned", {"rules": {"scan": {"maxAge": "3650d"}}})
    assert evaluate(http, policies, "scanned")["decision"] == "DENY"
    scanner = note(http, project, "scanner", "DISCOVERY")
    occurrence(http, project, occurrence_body("DISCOVERY", scanner, IMAGE))
    assert evaluate(http, policies, "scanned")["decision"] == "ALLOW"


@pytest.mark.parametrize("analysis, counts", [("VULNERABILITY", True), ("SBOM_REFERENCE", False)])
def test_a_discovery_counts_as_a_scan_unless_its_note_records_another_analysis(
    http, project, policies, analysis, counts
):
    """A successful SBOM discovery (analysisKind SBOM_REFERENCE) passed a scan rule: never scanned for
    vulnerabilities, the artifact was allowed as if it had been."""
    create(http, policies, "scanned", {"rules": {"scan": {"maxAge": "3650d"}}})
    body = {"discovery": {"analysisKind": analysis}}
    r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "discovered"}, json=body)
    assert r.status_code == 200, r.text
    found = occurrence(http, project, occurrence_body("DISCOVERY", r.json()["name"], IMAGE))
    decision = evaluate(http, policies, "scanned")
    if counts:
        assert decision["decision"] == "ALLOW", decision
        return
    [violation] = decision["violations"]
    assert violation["code"] == "NOT_SCANNED" and violation["evidence"] == [found], decision
    assert "on notes of other analyses (SBOM_REFERENCE)" in violation["message"]


def test_signed_attestation_is_verified(http, project, policies):
    qa = signer("ECDSA_P256_SHA256", "qa-1")
    qa_note = note(http, project, "qa", "ATTESTATION")
    policy = {
        "attestors": [{"name": "qa", "noteName": qa_note, "publicKeys": [qa.public_key()]}],
        "rules": {"attestations": {"attestors": ["qa"]}},
    }
    create(http, policies, "attested", policy)
    assert evaluate(http, policies, "attested")["decision"] == "DENY"

    payload = simple_signing()
    forged = {"serializedPayload": b64(payload), "signatures": [{"publicKeyId": "qa-1", "signature": b64(b"x" * 64)}]}
    occurrence(http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": forged})
    denied = evaluate(http, policies, "attested")
    assert denied["decision"] == "DENY" and "SIGNATURE" in json.dumps(denied["violations"])

    signed = {
        "serializedPayload": b64(payload),
        "signatures": [{"publicKeyId": "qa-1", "signature": b64(qa.sign(payload))}],
    }
    good = occurrence(http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": signed})
    allowed = evaluate(http, policies, "attested")
    assert allowed["decision"] == "ALLOW", allowed
    assert good in allowed["usedOccurrences"]


def test_jwt_attestation_is_verified(http, project, policies):
    qa = signer("ECDSA_P384_SHA384", "qa-jwt")
    qa_note = note(http, project, "qa", "ATTESTATION")
    policy = {
        "attestors": [{"name": "qa", "noteName": qa_note, "publicKeys": [qa.public_key()]}],
        "rules": {"attestations": {"attestors": ["qa"]}},
    }
    create(http, policies, "jwt-attested", policy)
    other = compact_jwt(qa, binauthz_claims(OTHER_DIGEST))
    occurrence(
        http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": {"jwts": [{"compactJwt": other}]}}
    )
    denied = evaluate(http, policies, "jwt-attested")
    assert [v["code"] for v in denied["violations"]] == ["SUBJECT_MISMATCH"], denied

    jwts = [{"compactJwt": compact_jwt(qa)}]
    good = occurrence(http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": {"jwts": jwts}})
    allowed = evaluate(http, policies, "jwt-attested")
    assert allowed["decision"] == "ALLOW", allowed
    assert good in allowed["usedOccurrences"]


def test_pgp_attestation_as_gcloud_records_it(http, project, policies):
    """A GnuPG-signed attestation (`gpg --armor --sign`, tests/fixtures/pgp), its attestor key given armored."""
    qa_note = note(http, project, "qa", "ATTESTATION")
    armored = (PGP_FIXTURES / "attestor.pub.asc").read_text()
    policy = {
        "attestors": [{"name": "qa", "noteName": qa_note, "publicKeys": [{"asciiArmoredPgpPublicKey": armored}]}],
        "rules": {"attestations": {"attestors": ["qa"]}},
    }
    create(http, policies, "pgp-attested", policy)
    # The second: the key with a packet of an unknown tag (60) appended, once a 500.
    for bad in ("x", (PGP_FIXTURES / "attestor-and-tag60.pub.asc").read_text()):
        bad_key = dict(
            policy, attestors=[{**policy["attestors"][0], "publicKeys": [{"asciiArmoredPgpPublicKey": bad}]}]
        )
        r = http.post(policies, params={"policyId": "bad-key"}, json=bad_key)
        assert r.status_code == 400 and "asciiArmoredPgpPublicKey" in r.json()["error"]["message"], r.text

    payload, fingerprint = (PGP_FIXTURES / "payload.json").read_bytes(), "E9652C72F9727A67810B1A4BC09C5CD952031607"
    signature = (PGP_FIXTURES / "payload.json.asc").read_bytes()
    altered = payload.replace(b"acme", b"evil")
    forged = {
        "serializedPayload": b64(altered),
        "signatures": [{"publicKeyId": fingerprint, "signature": b64(signature)}],
    }
    occurrence(http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": forged})
    denied = evaluate(http, policies, "pgp-attested")
    assert [v["code"] for v in denied["violations"]] == ["SIGNATURE_INVALID"], denied

    signed = {
        "serializedPayload": b64(payload),
        "signatures": [{"publicKeyId": fingerprint, "signature": b64(signature)}],
    }
    good = occurrence(http, project, {"resourceUri": IMAGE, "noteName": qa_note, "attestation": signed})
    allowed = evaluate(http, policies, "pgp-attested")
    assert allowed["decision"] == "ALLOW", allowed
    assert good in allowed["usedOccurrences"]


def test_test_results_from_an_attestation(http, project, policies):
    tests_note = note(http, project, "test-results", "DSSE_ATTESTATION")
    create(http, policies, "tested", {"rules": {"tests": {}}})
    assert evaluate(http, policies, "tested")["decision"] == "DENY"
    envelope = {"payload": b64(results_payload("PASSED")), "payloadType": "application/vnd.in-toto+json"}
    occurrence(http, project, {"resourceUri": IMAGE, "noteName": tests_note, "dsseAttestation": {"envelope": envelope}})
    assert evaluate(http, policies, "tested")["decision"] == "ALLOW"


def test_occurrence_projects_widen_what_the_gate_reads(http, project, policies):
    scanners = f"{project}-scanners"
    scanner = note(http, scanners, "scanner", "DISCOVERY")
    occurrence(http, scanners, occurrence_body("DISCOVERY", scanner, IMAGE))
    create(http, policies, "own", {"rules": {"scan": {"maxAge": "3650d"}}})
    create(http, policies, "wide", {"rules": {"scan": {"maxAge": "3650d"}}, "occurrenceProjects": [scanners]})
    assert evaluate(http, policies, "own")["decision"] == "DENY"
    assert evaluate(http, policies, "wide")["decision"] == "ALLOW"


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "resourceUri is required"),
        ({"resourceUri": ""}, "resourceUri is required"),
        ({"resourceUri": 5}, "resourceUri is required"),
        ({"resourceUri": IMAGE, "colour": 1}, "unknown field 'colour'"),
        ({"resourceUri": IMAGE, "breakglass": "yes"}, "breakglass must be"),
        ({"resourceUri": IMAGE, "breakglass": {"justification": 5}}, "breakglass must be"),
        ({"resourceUri": IMAGE, "breakglass": {"justification": "a\x00b"}}, "must not contain the NUL"),
        ({"resourceUri": " " + IMAGE}, "must not hold control characters or begin or end with a space"),
        ({"resourceUri": IMAGE.replace("@", "\n@")}, "must not hold control characters"),
        ({"resourceUri": "https://gcr.io/" + "a" * 20000}, "at most 2048 characters"),
    ],
    ids=lambda v: None,
)
def test_bad_evaluate_requests_are_400(http, policies, body, message):
    create(http, policies, "p", VULN_POLICY)
    r = http.post(f"{policies}/p:evaluate", json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]


@pytest.mark.parametrize("revision", ["%C2%B2", "99999999999999999999", "0x1", "-1", "0"])
def test_a_revision_that_is_not_a_number_in_range_is_400(http, policies, revision):
    create(http, policies, "p", VULN_POLICY)
    r = http.get(f"{policies}/p/revisions/{revision}")
    assert r.status_code == 400 and "revision must be a number" in r.json()["error"]["message"], r.text


# ---- decisions -----------------------------------------------------------------------------


def test_decisions_filter_by_policy_outcome_and_time(http, project, policies):
    create(http, policies, "strict", {"rules": {}})
    create(http, policies, "loose", {"rules": {"identity": {"allowTags": True}}})
    denied = evaluate(http, policies, "strict", resource=TAGGED)
    allowed = evaluate(http, policies, "loose", resource=TAGGED)
    path = f"/v1/projects/{project}/decisions"

    def names(filter_):
        r = http.get(path, params={"filter": filter_})
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json().get("decisions", [])]

    assert names('decision="DENY"') == [denied["name"]]
    assert names(f'policy="projects/{project}/policies/loose"') == [allowed["name"]]
    assert names('policyId="strict" OR policyId="loose"') == [denied["name"], allowed["name"]]
    assert names('evaluateTime > "2000-01-01T00:00:00Z" AND policyRevision = 1') == [denied["name"], allowed["name"]]
    assert names('evaluateTime < "2000-01-01T00:00:00Z"') == []
    for bad, message in [
        ("colour=1", "unknown field 'colour'"),
        ('decision="MAYBE"', "is not a decision"),
        ('policy="strict"', "projects/[PROJECT_ID]/policies/[POLICY_ID]"),
    ]:
        r = http.get(path, params={"filter": bad})
        assert r.status_code == 400 and message in r.json()["error"]["message"], r.text
    assert http.get(f"{path}/nope").status_code == 404


def test_an_update_takes_effect_at_once_and_decisions_name_their_revision(http, policies):
    create(http, policies, "p", {"rules": {}})
    first = evaluate(http, policies, "p", resource=TAGGED)
    assert (first["decision"], first["policyRevision"]) == ("DENY", 1)
    assert http.patch(f"{policies}/p", json={"rules": {"identity": {"allowTags": True}}}).status_code == 200
    second = evaluate(http, policies, "p", resource=TAGGED)
    assert (second["decision"], second["policyRevision"]) == ("ALLOW", 2)


def test_an_artifact_with_more_occurrences_than_the_gate_reads_is_refused(http, project, policies, monkeypatch):
    from grafeas_py.gate import service

    monkeypatch.setattr(service, "MAX_OCCURRENCES", 2)  # 20,000 in production
    cve = note(http, project, "CVE-2024-3", "VULNERABILITY")
    for _ in range(3):
        occurrence(http, project, occurrence_body("VULNERABILITY", cve, IMAGE))
    create(http, policies, "p", VULN_POLICY)
    r = http.post(f"{policies}/p:evaluate", json={"resourceUri": IMAGE})
    assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert "more than 2 occurrences" in r.json()["error"]["message"]
    assert http.get(f"/v1/projects/{project}/decisions").json() == {}  # nothing decided, nothing recorded


def test_a_finding_batch_created_under_a_tag_counts(http, project, policies):
    """Batch creates keep the artifact's key too (COPY on PostgreSQL, not the single create's statement)."""
    cve = note(http, project, "CVE-2024-1", "VULNERABILITY")
    items = [occurrence_body("VULNERABILITY", cve, IMAGE.replace("app@", f"app:1.{i}@")) for i in range(3)]
    r = http.post(f"/v1/projects/{project}/occurrences:batchCreate", json={"occurrences": items})
    assert r.status_code == 200, r.text
    create(http, policies, "prod", VULN_POLICY)
    decision = evaluate(http, policies, "prod", IMAGE)
    made = [o["name"] for o in r.json()["occurrences"]]
    assert decision["decision"] == "DENY" and sorted(decision["usedOccurrences"]) == sorted(made), decision
