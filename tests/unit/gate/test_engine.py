"""The deploy gate's decisions, as a table of scenarios: every rule, every mode, expiry, VEX, breakglass."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grafeas_py.gate import Breakglass, evaluate
from grafeas_py.gate import engine as engine_module
from grafeas_py.ingest.plan import safe_note_id
from tests.unit.gate.builders import (
    DIGEST,
    NOW,
    OTHER_DIGEST,
    OTHER_URI,
    URI,
    build,
    codes,
    compliance,
    discovery,
    make_policy,
    package,
    secret,
    vulnerability,
)

VULNS = {"maximumFixableSeverity": "MEDIUM", "maximumUnfixableSeverity": "HIGH"}
SCAN = {"maxAge": "24h"}
PROVENANCE = {
    "builderIds": ["https://cloudbuild.googleapis.com/**"],
    "sourceUris": ["https://github.com/acme/*"],
}
CIS = "projects/acme/notes/cis-4.1"
LATER = (NOW + timedelta(days=30)).isoformat()
EARLIER = (NOW - timedelta(days=1)).isoformat()


def case(name, rules, occurrences, decision, violations=(), warnings=(), *, uri=URI, doc=None, says=None):
    return pytest.param(rules, occurrences, decision, list(violations), list(warnings), uri, doc or {}, says, id=name)


def located(name, *versions, own=""):
    """A PACKAGE occurrence with versions in its locations, as before Grafeas v1 (and its `own` version)."""
    body = package(name, own)
    body["package"]["location"] = [
        {"cpeUri": "cpe:/a:apache:log4j", "version": {"kind": "NORMAL", "name": v}} for v in versions
    ]
    return body


def built(*digests):
    """A trusted SLSA v1 build whose subjects are these sha256 digests."""
    return built_subjects(*({"name": f"gcr.io/acme/app-{i}", "digest": {"sha256": d}} for i, d in enumerate(digests)))


def built_subjects(*subjects):
    """A trusted SLSA v1 build of these in-toto subjects."""
    occurrence = build(source="https://github.com/acme/app")
    occurrence["build"]["inTotoSlsaProvenanceV1"]["subject"] = list(subjects)
    return occurrence


def legacy_build(built_artifacts=()):
    """A trusted build in Grafeas's classic BuildProvenance, with these built artifacts."""
    provenance = {
        "builderVersion": "https://cloudbuild.googleapis.com/v1",
        "sourceProvenance": {"context": {"git": {"url": "https://github.com/acme/app"}}},
    }
    if built_artifacts:
        provenance["builtArtifacts"] = list(built_artifacts)
    return {**build(), "build": {"provenance": provenance}}


def critical_issue(own):
    """A finding whose package issue's effectiveSeverity is CRITICAL; the occurrence's is `own`."""
    finding = vulnerability(effectiveSeverity=own, provider_severity="LOW")
    finding["vulnerability"]["packageIssue"][0]["effectiveSeverity"] = "CRITICAL"
    return finding


SCENARIOS = [
    # identity
    case("digest image passes", {}, [], "ALLOW"),
    case("tag denied", {}, [], "DENY", ["TAG_NOT_DIGEST"], uri="gcr.io/acme/app:1.0", says="gcr.io/acme/app@sha256:"),
    case("no tag, no digest", {}, [], "DENY", ["TAG_NOT_DIGEST"], uri="https://gcr.io/acme/app"),
    case("tags allowed", {"identity": {"allowTags": True}}, [], "ALLOW", uri="gcr.io/acme/app:1.0"),
    case("tag warn", {"identity": {"mode": "warn"}}, [], "ALLOW_WITH_WARNINGS", [], ["TAG_NOT_DIGEST"], uri="a/b:1"),
    case("tag dryrun", {"identity": {"mode": "dryrun"}}, [], "ALLOW", [], ["TAG_NOT_DIGEST"], uri="a/b:1"),
    case("bad digest", {}, [], "DENY", ["DIGEST_INVALID"], uri="gcr.io/acme/app@sha256:abc", says="not a sha256"),
    case("sha512 digest", {}, [], "DENY", ["DIGEST_INVALID"], uri=f"gcr.io/a/b@sha512:{DIGEST}"),
    # The digest after the last `@` is not what the gate looks its findings up under: judged on nothing found, a
    # second `@` passed the vulnerability rules and a signature on the vulnerable digest alone.
    *(
        case(f"an image with {how}", rules, [], "DENY", ["DIGEST_INVALID"], uri=uri, says=says)
        for rules in ({}, {"identity": {"allowTags": True}})
        for how, uri, says in [
            ("two digests", f"https://gcr.io/acme/app@sha256:{OTHER_DIGEST}@sha256:{DIGEST}", "one '@' at most"),
            ("an @ in its tag", f"gcr.io/acme/app:x@y@sha256:{DIGEST}", "one '@' at most"),
            ("user info", f"https://user@gcr.io/acme/app@sha256:{DIGEST}", "one '@' at most"),
            ("an @ but no digest", "gcr.io/acme@team/app:1", "one '@' at most"),
            ("a space", f"https:// gcr.io/acme/app@sha256:{DIGEST}", "no spaces"),
            ("a tab in its path", f"gcr.io/acme/a\tpp@sha256:{DIGEST}", "no spaces"),
        ]
    ),
    case("jar without digest", {}, [], "DENY", ["DIGEST_MISSING"], uri="https://repo/app.jar", says="#sha256="),
    case("war no scheme", {}, [], "DENY", ["DIGEST_MISSING"], uri="repo.example.com/lib/app.WAR"),
    case("jar with fragment", {}, [], "ALLOW", uri=f"https://repo/app.jar#sha256={DIGEST}"),
    case("zip bad fragment", {}, [], "DENY", ["DIGEST_INVALID"], uri="https://repo/app.zip#sha256=XYZ"),
    case("grafeas file uri", {}, [], "ALLOW", uri=f"file://sha256:{DIGEST}:app.jar"),
    case("file uri no digest", {}, [], "DENY", ["DIGEST_MISSING"], uri="file:///srv/app.jar"),
    case("package coordinate", {}, [], "ALLOW", uri="deb://bookworm:amd64:openssl:3.0.1"),
    # An unknown scheme names no artifact the gate can judge: passed, no rule would have found anything.
    case("unknown scheme", {}, [], "DENY", ["DIGEST_MISSING"], uri=f"htps://gcr.io/a@sha256:{DIGEST}", says="scheme"),
    case(
        "unknown scheme, tags allowed", {"identity": {"allowTags": True}}, [], "DENY", ["DIGEST_MISSING"], uri="x://a"
    ),
    case("docker transport", {}, [], "ALLOW", uri=f"docker://gcr.io/acme/app@sha256:{DIGEST}"),
    case("docker transport by tag", {}, [], "DENY", ["TAG_NOT_DIGEST"], uri="docker://gcr.io/acme/app:1.0"),
    case("oci transport by tag", {}, [], "DENY", ["TAG_NOT_DIGEST"], uri="OCI://gcr.io/acme/chart:1.2"),
    case(
        "a deny pattern holds for the docker transport",
        {"artifacts": {"denyPatterns": ["docker.io/**"]}},
        [],
        "DENY",
        ["ARTIFACT_DENIED"],
        uri=f"docker://nginx@sha256:{DIGEST}",
    ),
    # artifact patterns
    case(
        "allow pattern skips all",
        {"artifacts": {"allowPatterns": ["gcr.io/acme/**"]}, "vulnerabilities": VULNS, "scan": SCAN},
        [vulnerability(severity="CRITICAL")],
        "ALLOW",
        uri="gcr.io/acme/app:latest",
    ),
    case(
        "an allow pattern does not let dot segments walk out of its path",
        {"artifacts": {"allowPatterns": ["gcr.io/acme/platform/**"]}, "vulnerabilities": VULNS},
        [],
        "DENY",
        ["TAG_NOT_DIGEST"],
        uri="gcr.io/acme/platform/../../../evil.io/x:1",
    ),
    *(
        case(
            f"an allow pattern does not let {how} dot segments walk out of its path",
            {"artifacts": {"allowPatterns": ["https://repo.example.com/acme/**"]}, "scan": SCAN},
            [],
            "DENY",
            ["NOT_SCANNED"],
            uri=f"https://repo.example.com/acme/{path}/app.jar#sha256={DIGEST}",
        )
        for how, path in [
            ("percent-encoded", "%2e%2e/evil"),
            ("partly encoded", ".%2E/evil"),
            ("backslashed", "..\\evil\\x"),
            ("path-parameter", "..;/evil"),
        ]
    ),
    *(
        case(
            f"an allow pattern does not hold for an image with {how}",
            {"artifacts": {"allowPatterns": ["gcr.io/acme/**"]}, "scan": SCAN},
            [],
            "DENY",
            ["NOT_SCANNED"],
            uri=f"{scheme}gcr.io/acme{path}@sha256:{DIGEST}",
        )
        for scheme in ("", "https://", "http://")
        for how, path in [
            ("a backslash", "\\x"),
            ("a backslashed dot segment", "/x/..\\y"),
            ("a dot segment", "/x/../y"),
            ("an encoded slash", "/x%2Fy"),
        ]
    ),
    case(
        "star stays in one segment",
        {"artifacts": {"allowPatterns": ["gcr.io/acme/*"]}},
        [],
        "DENY",
        ["TAG_NOT_DIGEST"],
        uri="gcr.io/acme/team/app:1",
    ),
    case(
        "deny pattern",
        {"artifacts": {"denyPatterns": ["docker.io/**"]}},
        [],
        "DENY",
        ["ARTIFACT_DENIED"],
        uri=f"docker.io/x@sha256:{DIGEST}",
    ),
    case(
        "deny wins over allow",
        {"artifacts": {"allowPatterns": ["**"], "denyPatterns": ["gcr.io/acme/app@*"]}},
        [],
        "DENY",
        ["ARTIFACT_DENIED"],
    ),
    case(
        "deny pattern warn",
        {"artifacts": {"mode": "warn", "denyPatterns": ["**"]}},
        [],
        "ALLOW_WITH_WARNINGS",
        [],
        ["ARTIFACT_DENIED"],
    ),
    # A deny pattern is brought to the artifact's canonical form, so it holds for every spelling of what it names.
    *(
        case(
            f"deny pattern {pattern} holds for {uri}",
            {"artifacts": {"denyPatterns": [pattern]}},
            [],
            "DENY",
            ["ARTIFACT_DENIED"],
            uri=uri + (f"@sha256:{DIGEST}" if ".jar" not in uri else f"#sha256={DIGEST}"),
        )
        for pattern, uri in [
            ("docker://docker.io/**", "nginx"),
            ("docker://docker.io/**", "https://docker.io/library/nginx"),
            ("oci://ghcr.io/evil/**", "ghcr.io/evil/x"),
            ("http://gcr.io/evil/**", "https://gcr.io/evil/app"),
            ("HTTPS://GCR.io:0443/evil/**", "gcr.io/evil/app"),
            ("gcr.io/evil/**", "gcr.io:0443/evil/app"),
            ("gcr.io/evil/**", "http://gcr.io:80/evil/app"),  # `:80` after `http://` is its default port
            ("gcr.io/evil/**", "gcr.io./evil/app"),
            ("docker.io/**", "registry-1.docker.io:0443/library/nginx"),
            ("index.docker.io/library/**", "nginx"),  # Docker Hub's other names, in a pattern too
            ("docker://registry-1.docker.io/library/**", "docker.io/library/nginx"),
            # Docker's rule for a first segment that names no registry, in a pattern as in an image.
            ("docker.io/nginx@*", "nginx"),
            ("nginx@*", "index.docker.io/library/nginx"),
            ("index.docker.io/busybox@*", "busybox"),
            ("acme/app@*", "docker.io/acme/app"),
            ("https://repo.example.com/evil/**", "https://REPO.example.com/evil/app.jar"),
            ("https://repo.example.com/evil/**", "HTTPS://repo.example.com/evil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com:443/evil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com:00443/evil/app.jar"),
            ("https://repo.example.com/evil/**", "http://repo.example.com:80/evil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com/x/../evil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com/x/%2e%2e/evil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com/%65vil/app.jar"),
            ("https://repo.example.com/evil/**", "https://repo.example.com//evil/app.jar"),
            ("https://repo.example.com/%65vil/**", "https://repo.example.com/evil/app.jar"),
        ]
    ),
    case(
        "an allow pattern holds for another spelling of what it names",
        {"artifacts": {"allowPatterns": ["docker://repo.example.com/acme/**"]}, "scan": SCAN},
        [],
        "ALLOW",
        uri=f"HTTPS://REPO.example.com:0443/%61cme/app.jar#sha256={DIGEST}",
    ),
    case(
        "an allow pattern does not allow user info before the host",
        {"artifacts": {"allowPatterns": ["https://repo.example.com/acme/**"]}, "scan": SCAN},
        [],
        "DENY",
        ["NOT_SCANNED"],
        uri=f"https://repo.example.com@evil.example/acme/app.jar#sha256={DIGEST}",
    ),
    # A warn or dryrun deny pattern never changes the decision: the allow pattern still applies.
    *(
        case(
            f"a {mode} deny pattern does not switch off the allow pattern",
            {
                "artifacts": {
                    "mode": mode,
                    "allowPatterns": ["gcr.io/acme/**"],
                    "denyPatterns": ["gcr.io/acme/legacy/**"],
                },
                "scan": SCAN,
            },
            [],
            decision,
            [],
            ["ARTIFACT_DENIED"],
            uri=f"gcr.io/acme/legacy/app@sha256:{DIGEST}",
            says="matches the deny pattern 'gcr.io/acme/legacy/**'",
        )
        for mode, decision in [("dryrun", "ALLOW"), ("warn", "ALLOW_WITH_WARNINGS")]
    ),
    # vulnerabilities
    case(
        "fixable above max",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="HIGH")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        says=f"found CVE-2023-1234 (in openssl 3.0.1, fixed in 3.0.2) in {URI} with severity HIGH, above the maximum "
        "MEDIUM for fixable vulnerabilities",
    ),
    case("fixable at max", {"vulnerabilities": VULNS}, [vulnerability(severity="MEDIUM")], "ALLOW"),
    case("unfixable within max", {"vulnerabilities": VULNS}, [vulnerability(severity="HIGH", fixable=False)], "ALLOW"),
    case(
        "unfixable above max",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL", fixable=False)],
        "DENY",
        ["FIX_UNAVAILABLE_SEVERITY_EXCEEDED"],
        says="above the maximum HIGH for unfixable vulnerabilities",
    ),
    case(
        "fixAvailable makes fixable without package issues",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="HIGH", packageIssue=[], fixAvailable=True)],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        # Grafeas: "at least one of the affected packages has a fix": not the one without a fix.
        "fixAvailable does not make an issue without a fix fixable",
        {"vulnerabilities": {"maximumUnfixableSeverity": "HIGH"}},
        [
            vulnerability(
                severity="CRITICAL",
                fixAvailable=True,
                packageIssue=[
                    *vulnerability()["vulnerability"]["packageIssue"],
                    *vulnerability(fixable=False)["vulnerability"]["packageIssue"],
                ],
            )
        ],
        "DENY",
        ["FIX_UNAVAILABLE_SEVERITY_EXCEEDED"],
    ),
    case(
        "no package issues is unfixable",
        {"vulnerabilities": {"maximumFixableSeverity": "LOW"}},
        [vulnerability(severity="CRITICAL", packageIssue=[])],
        "ALLOW",
    ),
    case(
        "falls back to severity",
        {"vulnerabilities": VULNS},
        [vulnerability(effectiveSeverity=None, provider_severity="HIGH")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case("unspecified severity passes", {"vulnerabilities": VULNS}, [vulnerability(effectiveSeverity=None)], "ALLOW"),
    # Grafeas advises the package issues' effectiveSeverity, and makes the occurrence's their highest.
    *(
        case(
            f"a package issue's effective severity counts ({name})",
            {"vulnerabilities": VULNS},
            [critical_issue(own)],
            "DENY",
            ["SEVERITY_EXCEEDED"],
            says="with severity CRITICAL",
        )
        for name, own in (("the occurrence gives none", None), ("the occurrence's is lower", "LOW"))
    ),
    case(
        "block all",
        {"vulnerabilities": {"maximumFixableSeverity": "BLOCK_ALL"}},
        [vulnerability(effectiveSeverity=None)],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        says="allows no fixable vulnerabilities (BLOCK_ALL)",
    ),
    case(
        "cvss above max",
        {"vulnerabilities": {"maximumCvssScore": 7}},
        [vulnerability(severity="LOW", cvssScore=9.8)],
        "DENY",
        ["CVSS_EXCEEDED"],
        says="CVSS score 9.8, above the maximum 7",
    ),
    case(
        "cvss v3 fallback",
        {"vulnerabilities": {"maximumCvssScore": 7}},
        [vulnerability(cvssv3={"baseScore": 7.5})],
        "DENY",
        ["CVSS_EXCEEDED"],
    ),
    case("cvss within max", {"vulnerabilities": {"maximumCvssScore": 7}}, [vulnerability(cvssScore=7.0)], "ALLOW"),
    case(
        "cvss v4 only",
        {"vulnerabilities": {"maximumCvssScore": 7}},
        [vulnerability(severity="LOW", cvssV4={"baseScore": 8.7})],
        "DENY",
        ["CVSS_EXCEEDED"],
        says="CVSS score 8.7, above the maximum 7",
    ),
    case(
        "cvss highest version score",
        {"vulnerabilities": {"maximumCvssScore": 7}},
        [
            vulnerability(
                severity="LOW", cvssV2={"baseScore": 7.2}, cvssv3={"baseScore": 6.5}, cvssV4={"baseScore": 5.3}
            )
        ],
        "DENY",
        ["CVSS_EXCEEDED"],
        says="CVSS score 7.2",
    ),
    case(
        "cvss score is the scanner's choice",
        {"vulnerabilities": {"maximumCvssScore": 7}},
        [vulnerability(severity="LOW", cvssScore=6.9, cvssV4={"baseScore": 9.3})],
        "ALLOW",
    ),
    case(
        "vex not affected",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL", vexAssessment={"state": "NOT_AFFECTED"})],
        "ALLOW",
    ),
    case(
        "vex fixed",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL", vexAssessment={"state": "FIXED"})],
        "ALLOW",
    ),
    case(
        "vex affected still counts",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL", vexAssessment={"state": "AFFECTED"})],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "cve exemption",
        {
            "vulnerabilities": {
                **VULNS,
                "exemptions": [{"cve": "CVE-2023-1234", "justification": "unreachable", "expires": LATER}],
            }
        },
        [vulnerability(severity="CRITICAL")],
        "ALLOW",
        says="exempted until",
    ),
    case(
        "cve exemption by note name",
        {
            "vulnerabilities": {
                **VULNS,
                "exemptions": [{"cve": "projects/goog-vulnz/notes/CVE-2023-1234", "justification": "j"}],
            }
        },
        [vulnerability(severity="CRITICAL")],
        "ALLOW",
    ),
    case(
        # The occurrence's writer sets vexAssessment.cve: matched, it let an exemption for one CVE waive another.
        "an exemption does not match through vexAssessment.cve",
        {"vulnerabilities": {**VULNS, "exemptions": [{"cve": "GHSA-1", "justification": "j"}]}},
        [vulnerability(severity="CRITICAL", vexAssessment={"cve": "GHSA-1", "state": "AFFECTED"})],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "an exemption matches the note id in any case, or as ingestion makes a note id of it",
        {
            "vulnerabilities": {
                **VULNS,
                "exemptions": [
                    {"cve": "cve-2023-1234", "justification": "j"},
                    {"cve": "RHSA-2023:1234", "justification": "j"},
                ],
            }
        },
        [vulnerability(severity="CRITICAL"), vulnerability(safe_note_id("RHSA-2023:1234"), severity="CRITICAL")],
        "ALLOW",
    ),
    case(
        "cve exemption other project note",
        {
            "vulnerabilities": {
                **VULNS,
                "exemptions": [{"cve": "projects/other/notes/CVE-2023-1234", "justification": "j"}],
            }
        },
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "cve exemption expired",
        {
            "vulnerabilities": {
                **VULNS,
                "exemptions": [{"cve": "CVE-2023-1234", "justification": "j", "expires": EARLIER}],
            }
        },
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        says="the exemption for CVE-2023-1234 expired at 2026-05-31T12:00:00Z",
    ),
    case(
        "cve exemption for another cve",
        {"vulnerabilities": {**VULNS, "exemptions": [{"cve": "CVE-2020-1", "justification": "j"}]}},
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "vulnerabilities warn",
        {"vulnerabilities": {**VULNS, "mode": "warn"}},
        [vulnerability(severity="CRITICAL")],
        "ALLOW_WITH_WARNINGS",
        [],
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "vulnerabilities dryrun",
        {"vulnerabilities": {**VULNS, "mode": "dryrun"}},
        [vulnerability(severity="CRITICAL")],
        "ALLOW",
        [],
        ["SEVERITY_EXCEEDED"],
    ),
    case(
        "modes combined",
        {"vulnerabilities": VULNS, "scan": {**SCAN, "mode": "warn"}, "identity": {"mode": "dryrun"}},
        [{**vulnerability(severity="CRITICAL"), "resourceUri": "gcr.io/acme/app:1"}],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        ["TAG_NOT_DIGEST", "NOT_SCANNED"],
        uri="gcr.io/acme/app:1",
    ),
    case(
        "vulnerability on another artifact",
        {"vulnerabilities": VULNS},
        [{**vulnerability(severity="CRITICAL"), "resourceUri": OTHER_URI}],
        "ALLOW",
    ),
    case(
        "same artifact without https",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        uri=URI.removeprefix("https://"),
    ),
    # scan freshness
    case("fresh scan", {"scan": SCAN}, [discovery(scanned=NOW - timedelta(hours=3))], "ALLOW"),
    case(
        "stale scan",
        {"scan": SCAN},
        [discovery(scanned=NOW - timedelta(days=3))],
        "DENY",
        ["SCAN_STALE"],
        says="is 3d old",
    ),
    case(
        "newest scan counts",
        {"scan": SCAN},
        [discovery(scanned=NOW - timedelta(days=3)), discovery(scanned=NOW - timedelta(hours=1))],
        "ALLOW",
    ),
    case("scan time from updateTime", {"scan": SCAN}, [discovery(updateTime="2026-06-01T11:00:00Z")], "ALLOW"),
    case("never scanned", {"scan": SCAN}, [], "DENY", ["NOT_SCANNED"], says="never scanned is not clean"),
    case(
        "failed scan",
        {"scan": SCAN},
        [discovery("FINISHED_FAILED", NOW)],
        "DENY",
        ["NOT_SCANNED"],
        says="FINISHED_FAILED",
    ),
    case("scan in 7d", {"scan": {"maxAge": "7d"}}, [discovery(scanned=NOW - timedelta(days=3))], "ALLOW"),
    case("scan a minute ahead (clock skew)", {"scan": SCAN}, [discovery(scanned=NOW + timedelta(minutes=1))], "ALLOW"),
    case(
        "scan time in the future",  # it would never grow stale
        {"scan": SCAN},
        [discovery(scanned=NOW + timedelta(days=365))],
        "DENY",
        ["NOT_SCANNED", "OCCURRENCE_MALFORMED"],
    ),
    # provenance
    case(
        "trusted build",
        {"provenance": PROVENANCE},
        [build(source="git+https://github.com/acme/app@refs/heads/main")],
        "ALLOW",
    ),
    case(
        "untrusted builder",
        {"provenance": PROVENANCE},
        [build("https://evil.example/builder", "https://github.com/acme/app")],
        "DENY",
        ["BUILDER_UNTRUSTED"],
        says="https://evil.example/builder",
    ),
    case(
        "untrusted source",
        {"provenance": PROVENANCE},
        [build(source="https://github.com/fork/app")],
        "DENY",
        ["SOURCE_UNTRUSTED"],
        says="https://github.com/fork/app",
    ),
    # git collapses `..`: `https://github.com/acme/../attacker/repo` is fetched from attacker/repo.
    *(
        case(
            f"a source that walks out of a trusted pattern ({source})",
            {"provenance": {**PROVENANCE, "sourceUris": ["https://github.com/acme/**"]}},
            [build(source=source)],
            "DENY",
            ["SOURCE_UNTRUSTED"],
        )
        for source in [
            "https://github.com/acme/../attacker/repo",
            "git+https://github.com/acme/%2e%2e/attacker/repo@refs/heads/main",
            "https://github.com/acme/..\\attacker/repo",
        ]
    ),
    case(
        "a source spelled otherwise matches its pattern",
        {"provenance": {**PROVENANCE, "sourceUris": ["https://github.com/acme/*"]}},
        [build(source="git+HTTPS://GitHub.com:443/%61cme/app@refs/heads/main")],
        "ALLOW",
    ),
    case("no build", {"provenance": PROVENANCE}, [], "DENY", ["PROVENANCE_MISSING"]),
    # A build names what it built: provenance of another artifact, posted on this one, is not this one's.
    case("a build of this digest", {"provenance": PROVENANCE}, [built(DIGEST, OTHER_DIGEST)], "ALLOW"),
    case(
        "a build of another digest",
        {"provenance": PROVENANCE},
        [built(OTHER_DIGEST)],
        "DENY",
        ["SUBJECT_MISMATCH"],
        says=f"is for sha256:{OTHER_DIGEST}, not for this artifact (sha256:{DIGEST})",
    ),
    case(
        "a build naming its subject by sha512 only",  # npm's provenance, posted on an image
        {"provenance": PROVENANCE},
        [built_subjects({"name": "pkg:npm/app@1.0.0", "digest": {"sha512": "AB12"}})],
        "DENY",
        ["SUBJECT_MISMATCH"],
        says=f"is for sha512:ab12, not for this artifact (sha256:{DIGEST})",
    ),
    case(
        "a legacy build of another image",
        {"provenance": PROVENANCE},
        [legacy_build(built_artifacts=[{"id": f"gcr.io/acme/other@sha256:{OTHER_DIGEST}"}])],
        "DENY",
        ["SUBJECT_MISMATCH"],
    ),
    case(
        "a legacy build of this checksum",
        {"provenance": PROVENANCE},
        [legacy_build(built_artifacts=[{"checksum": f"SHA256:{DIGEST.upper()}"}])],
        "ALLOW",
    ),
    case(
        "a build of another digest beside a trusted one of this",
        {"provenance": PROVENANCE},
        [built(OTHER_DIGEST), built(DIGEST)],
        "ALLOW",
    ),
    case("any build", {"provenance": {}}, [build()], "ALLOW"),
    case("legacy provenance", {"provenance": PROVENANCE}, [legacy_build()], "ALLOW"),
    # compliance
    case(
        "non compliant",
        {"compliance": {"noteNames": [CIS]}},
        [compliance(CIS, ("/etc/passwd",), "world-writable")],
        "DENY",
        ["NON_COMPLIANT"],
        says="world-writable (1 non-compliant file: /etc/passwd)",
    ),
    case("compliant", {"compliance": {"noteNames": [CIS]}}, [compliance(CIS)], "ALLOW"),
    case(
        "non compliant, its note named with a location",  # as occurrences written by older servers may be
        {"compliance": {"noteNames": [CIS]}},
        [compliance(CIS.replace("/notes/", "/locations/global/notes/"), ("/etc/passwd",), "world-writable")],
        "DENY",
        ["NON_COMPLIANT"],
    ),
    case(
        "other compliance note",
        {"compliance": {"noteNames": [CIS]}},
        [compliance("projects/acme/notes/other", reason="x")],
        "ALLOW",
    ),
    # exposed secrets
    case(
        "exposed secret",
        {"secrets": {}},
        [secret("SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN", ("app/.env", 4), ("app/old.env", 0))],
        "DENY",
        ["SECRET_EXPOSED"],
        says="exposes a secret (SECRET_KIND_GITHUB_CLASSIC_PERSONAL_ACCESS_TOKEN) in app/.env:4, app/old.env;",
    ),
    case(
        "secret in many places",
        {"secrets": {}},
        [secret("SECRET_KIND_UNKNOWN", *((f"app/{n}.env", n) for n in range(1, 6)))],
        "DENY",
        ["SECRET_EXPOSED"],
        says="in app/1.env:1, app/2.env:2, app/3.env:3 and 2 more; remove it from the artifact and revoke it",
    ),
    case("no secret", {"secrets": {}}, [vulnerability(severity="LOW")], "ALLOW"),
    case(
        "allowed kind of secret",
        {"secrets": {"allowKinds": ["SECRET_KIND_UNKNOWN"]}},
        [secret("SECRET_KIND_UNKNOWN", ("app/.env", 7))],
        "ALLOW",
    ),
    case(
        "secret without a place, in warn mode",
        {"secrets": {"mode": "warn"}},
        [secret("SECRET_KIND_UNKNOWN")],
        "ALLOW_WITH_WARNINGS",
        warnings=["SECRET_EXPOSED"],
        says="(SECRET_KIND_UNKNOWN) in an unnamed place",
    ),
    case("secrets not checked", {}, [secret()], "ALLOW"),
    # packages and licences
    case(
        "denied package",
        {"packages": {"denyPackages": [{"name": "log4j-core"}]}},
        [package("log4j-core", "2.14.1")],
        "DENY",
        ["PACKAGE_DENIED"],
    ),
    case(
        "denied version",
        {"packages": {"denyPackages": [{"name": "log4j-*", "versions": ["2.1*"]}]}},
        [package("log4j-core", "2.14.1")],
        "DENY",
        ["PACKAGE_DENIED"],
    ),
    case(
        "allowed version",
        {"packages": {"denyPackages": [{"name": "log4j-core", "versions": ["2.1*"]}]}},
        [package("log4j-core", "2.20.0")],
        "ALLOW",
    ),
    # The docs' own example: CycloneDX and purls name a Maven package group/artifact, SPDX group:artifact.
    *(
        case(
            f"a denied package named {name}",
            {"packages": {"denyPackages": [{"name": pattern, "versions": ["2.1*"]}]}},
            [package(name, "2.14.1")],
            decision,
            ["PACKAGE_DENIED"] if decision == "DENY" else [],
        )
        for pattern, name, decision in [
            ("log4j-core", "org.apache.logging.log4j/log4j-core", "DENY"),
            ("log4j-core", "org.apache.logging.log4j:log4j-core", "DENY"),
            ("log4j-*", "org.apache.logging.log4j/log4j-core", "DENY"),
            ("org.apache.logging.log4j/log4j-core", "org.apache.logging.log4j/log4j-core", "DENY"),
            ("acme/log4j-core", "org.apache.logging.log4j/log4j-core", "ALLOW"),  # a pattern with a group is whole
            # a pattern with a group holds for either separator
            ("org.apache.logging.log4j/log4j-core", "org.apache.logging.log4j:log4j-core", "DENY"),
            ("org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j/log4j-core", "DENY"),
            ("org.apache.logging.log4j:*", "org.apache.logging.log4j/log4j-core", "DENY"),
            ("org.apache.*/log4j-core", "org.apache.logging.log4j:log4j-core", "DENY"),
            ("acme:log4j-core", "org.apache.logging.log4j:log4j-core", "ALLOW"),
            ("acme/log4j-core", "org.apache.logging.log4j:log4j-core", "ALLOW"),
            ("log4j-core", "org.apache.logging.log4j/log4j-core-extras", "ALLOW"),
        ]
    ),
    # Before v1, Grafeas kept a package's version in its locations, as older writers still do.
    case(
        "denied version in a location",
        {"packages": {"denyPackages": [{"name": "log4j-core", "versions": ["2.1*"]}]}},
        [located("log4j-core", "2.20.0", "2.14.1")],
        "DENY",
        ["PACKAGE_DENIED"],
        says="log4j-core 2.14.1,",
    ),
    case(
        "allowed version in a location",
        {"packages": {"denyPackages": [{"name": "log4j-core", "versions": ["2.1*"]}]}},
        [located("log4j-core", "2.20.0")],
        "ALLOW",
    ),
    case(
        "no version given is judged as a denied one",
        {"packages": {"denyPackages": [{"name": "log4j-core", "versions": ["2.1*"]}]}},
        [package("log4j-core")],
        "DENY",
        ["PACKAGE_DENIED"],
        says="log4j-core (no version given)",
    ),
    case(
        "the package's own version wins over its locations'",
        {"packages": {"denyPackages": [{"name": "log4j-core", "versions": ["2.1*"]}]}},
        [located("log4j-core", "2.14.1", own="2.20.0")],
        "ALLOW",
    ),
    case(
        "denied licence",
        {"packages": {"denyLicenses": ["agpl-3.0-only"]}},
        [package("x", licence="(MIT OR AGPL-3.0-only)")],
        "DENY",
        ["LICENSE_DENIED"],
        says="AGPL-3.0-only",
    ),
    case(
        "denied licence with whitespace around it",
        {"packages": {"denyLicenses": [" agpl-3.0-only\t"]}},
        [package("x", licence="AGPL-3.0-only")],
        "DENY",
        ["LICENSE_DENIED"],
    ),
    case(
        "denied licence with its exception",
        {"packages": {"denyLicenses": ["GPL-2.0-only WITH Classpath-exception-2.0"]}},
        [package("x", licence="GPL-2.0-only WITH Classpath-exception-2.0"), package("y", licence="GPL-2.0-only")],
        "DENY",
        ["LICENSE_DENIED"],
        says="x under the licence GPL-2.0-only WITH Classpath-exception-2.0",
    ),
    case(
        "licence exception id",
        {"packages": {"denyLicenses": ["Classpath-exception-2.0"]}},
        [package("x", licence="GPL-2.0-only WITH Classpath-exception-2.0")],
        "DENY",
        ["LICENSE_DENIED"],
    ),
    case(
        "licence substring is not a match",
        {"packages": {"denyLicenses": ["GPL-2.0-only"]}},
        [package("x", licence="LGPL-2.0-only AND MIT")],
        "ALLOW",
    ),
    # SPDX's deprecated ids (Trivy and older SBOMs write them) are the licences their current ids name, both ways.
    *(
        case(
            f"denying {denied} holds for {licence}",
            {"packages": {"denyLicenses": [denied]}},
            [package("x", licence=licence)],
            decision,
            ["LICENSE_DENIED"] if decision == "DENY" else [],
            says=f"under the licence {licence}" if decision == "DENY" else None,
        )
        for denied, licence, decision in [
            ("GPL-2.0-only", "GPL-2.0", "DENY"),
            ("AGPL-3.0-only", "AGPL-3.0", "DENY"),
            ("GPL-3.0-or-later", "GPL-3.0+", "DENY"),
            ("AGPL-3.0", "AGPL-3.0-only", "DENY"),
            ("GPL-2.0+", "GPL-2.0-or-later", "DENY"),
            ("GPL-2.0-only", "GPL-2.0-with-classpath-exception", "DENY"),
            ("GPL-2.0-only", "GPL-2.0+", "ALLOW"),  # or later is another licence
            ("GPL-2.0-or-later", "GPL-2.0", "ALLOW"),
        ]
    ),
    # policy-level exemptions
    case(
        "rule exemption",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL")],
        "ALLOW",
        doc={
            "exemptions": [
                {"artifact": "gcr.io/acme/**", "rule": "vulnerabilities", "justification": "TICKET-1", "expires": LATER}
            ]
        },
        says="TICKET-1",
    ),
    case(
        "rule exemption expired",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        doc={
            "exemptions": [
                {
                    "artifact": "gcr.io/acme/**",
                    "rule": "vulnerabilities",
                    "justification": "TICKET-1",
                    "expires": EARLIER,
                }
            ]
        },
        says="the exemption for this rule (TICKET-1) expired at 2026-05-31T12:00:00Z",
    ),
    case(
        "rule exemption other artifact",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        doc={"exemptions": [{"artifact": "gcr.io/other/**", "rule": "vulnerabilities", "justification": "j"}]},
    ),
    case(
        "rule exemption other rule",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="CRITICAL")],
        "DENY",
        ["SEVERITY_EXCEEDED"],
        doc={"exemptions": [{"artifact": "**", "rule": "scan", "justification": "j"}]},
    ),
    *(
        case(
            f"an exemption does not reach through {how} dot segments",
            {"scan": SCAN},
            [],
            "DENY",
            ["NOT_SCANNED"],
            uri=f"https://repo.example.com/acme/legacy/{path}/evil/app.jar#sha256={DIGEST}",
            doc={
                "exemptions": [
                    {"artifact": "https://repo.example.com/acme/legacy/**", "rule": "scan", "justification": "j"}
                ]
            },
        )
        for how, path in [("plain", "../.."), ("percent-encoded", "%2e%2e/%2E%2E"), ("backslashed", "..\\..")]
    ),
    case(
        "an exemption holds for another spelling of what it names",
        {"scan": SCAN},
        [],
        "ALLOW",
        uri=f"ghcr.io:0443/acme/legacy/app@sha256:{DIGEST}",
        doc={"exemptions": [{"artifact": "oci://GHCR.io/acme/legacy/**", "rule": "scan", "justification": "MIG-7"}]},
        says="MIG-7",
    ),
    # fail closed on garbage
    case("occurrence not an object", {}, [None, "text"], "DENY", ["OCCURRENCE_MALFORMED", "OCCURRENCE_MALFORMED"]),
    case(
        "occurrence without name", {}, [{"kind": "VULNERABILITY", "resourceUri": URI}], "DENY", ["OCCURRENCE_MALFORMED"]
    ),
    case(
        "occurrence kind not text",
        {},
        [{"name": "projects/p/occurrences/x", "kind": 5}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "vulnerability not an object",
        {"vulnerabilities": VULNS},
        [{**vulnerability(), "vulnerability": "HIGH"}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "unknown severity",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="SUPER")],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
        says="'SUPER' is not a Grafeas severity",
    ),
    case(
        "package issues not a list",
        {"vulnerabilities": VULNS},
        [vulnerability(packageIssue={"a": 1})],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    # The JSON mapping writes float specials as text; a policy without a CVSS limit ignores them.
    case(
        "cvss infinite",
        {"vulnerabilities": {"maximumCvssScore": 9}},
        [vulnerability(severity="LOW", cvssScore="Infinity")],
        "DENY",
        ["CVSS_EXCEEDED"],
        says="CVSS score inf, above the maximum 9",
    ),
    *(
        case(
            f"cvss {score} beside a critical cvssv3",  # CVSS runs from 0: it would pass every limit
            {"vulnerabilities": {"maximumCvssScore": 9}},
            [vulnerability(severity="LOW", cvssScore=score, cvssv3={"baseScore": 9.8})],
            "DENY",
            ["OCCURRENCE_MALFORMED"],
            says=f"its CVSS score is {said}, which no maximumCvssScore",
        )
        for score, said in (("-Infinity", "-inf"), (-1, "-1"), (-0.5, "-0.5"))
    ),
    case(
        "cvss nan",
        {"vulnerabilities": {"maximumCvssScore": 9}},
        [vulnerability(severity="LOW", cvssv3={"baseScore": "NaN"})],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
        says="its CVSS score is NaN",
    ),
    *(
        case(
            f"a NaN {scored} beside a lower score",  # max() kept whichever came first
            {"vulnerabilities": {"maximumCvssScore": 7}},
            [vulnerability(severity="LOW", **{scored: {"baseScore": "NaN"}, other: {"baseScore": 5.0}})],
            "DENY",
            ["OCCURRENCE_MALFORMED"],
            says="its CVSS score is NaN",
        )
        for scored, other in (("cvssv3", "cvssV4"), ("cvssV4", "cvssv3"))
    ),
    case(
        "cvss nan without a cvss limit",
        {"vulnerabilities": VULNS},
        [vulnerability(severity="LOW", cvssScore="NaN")],
        "ALLOW",
    ),
    case(
        "cvss not a number",
        {"vulnerabilities": {"maximumCvssScore": 5}},
        [vulnerability(cvssScore="9")],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "bad scan time",
        {"scan": SCAN},
        [{**discovery(), "discovery": {"analysisStatus": "FINISHED_SUCCESS", "lastScanTime": "yesterday"}}],
        "DENY",
        ["NOT_SCANNED", "OCCURRENCE_MALFORMED"],
    ),
    case(
        "bad compliance",
        {"compliance": {"noteNames": [CIS]}},
        [{**compliance(CIS), "compliance": {"nonCompliantFiles": "x"}}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "bad secret",
        {"secrets": {}},
        [{**secret(), "secret": {"kind": "SECRET_KIND_UNKNOWN", "locations": "app/.env"}}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
        says="the gate cannot tell which secret it is",
    ),
    case(
        "bad package",
        {"packages": {"denyLicenses": ["MIT"]}},
        [{**package("x"), "package": {"name": ["x"]}}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "bad build",
        {"provenance": PROVENANCE},
        [{**build(), "build": {"inTotoSlsaProvenanceV1": []}}],
        "DENY",
        ["OCCURRENCE_MALFORMED"],
    ),
    case(
        "garbage of unchecked kind ignored",
        {},
        [{"name": "projects/p/occurrences/x", "kind": "IMAGE", "resourceUri": URI, "image": 7}],
        "ALLOW",
    ),
]


@pytest.mark.parametrize("rules, occurrences, decision, violations, warnings, uri, doc, says", SCENARIOS)
def test_scenario(rules, occurrences, decision, violations, warnings, uri, doc, says):
    result = evaluate(make_policy(rules, **doc), uri, occurrences, NOW)
    assert result.decision == decision
    assert result.allowed == (decision != "DENY")
    assert codes(result.violations) == violations
    assert codes(result.warnings) == warnings
    if says:
        assert says in " | ".join(v.message for v in [*result.violations, *result.warnings, *result.exempted])


def test_violation_names_rule_mode_and_evidence():
    occurrence = vulnerability(severity="CRITICAL")
    result = evaluate(make_policy({"vulnerabilities": VULNS}), URI, [occurrence], NOW)
    (violation,) = result.violations
    assert (violation.rule, violation.mode, violation.evidence) == ("vulnerabilities", "enforce", [occurrence["name"]])
    assert result.used_occurrences == [occurrence["name"]]


def test_dryrun_and_warn_findings_keep_their_modes():
    rules = {"vulnerabilities": {**VULNS, "mode": "dryrun"}, "scan": {**SCAN, "mode": "warn"}}
    result = evaluate(make_policy(rules), URI, [vulnerability(severity="CRITICAL")], NOW)
    assert [(w.rule, w.mode) for w in result.warnings] == [("vulnerabilities", "dryrun"), ("scan", "warn")]
    assert result.decision == "ALLOW_WITH_WARNINGS"


def test_to_dict_is_the_api_shape():
    result = evaluate(make_policy({"scan": {**SCAN, "mode": "warn"}}), "a/b:1", [], NOW)
    assert result.to_dict() == {
        "allowed": False,
        "decision": "DENY",
        "violations": [
            {
                "rule": "identity",
                "mode": "enforce",
                "code": "TAG_NOT_DIGEST",
                "message": "a/b:1 is referenced by tag, not by digest; deploy it as a/b@sha256:<digest> so that the "
                "gate judges the exact image that will run",
                "evidence": [],
            }
        ],
        "warnings": [
            {
                "rule": "scan",
                "mode": "warn",
                "code": "NOT_SCANNED",
                "message": "a/b:1 has never been scanned for vulnerabilities (no DISCOVERY occurrence); never scanned "
                "is not clean",
                "evidence": [],
            }
        ],
        "usedOccurrences": [],
    }


def test_breakglass_allows_and_keeps_the_violations():
    occurrence = vulnerability(severity="CRITICAL")
    glass = Breakglass("INC-42: outage fix")
    result = evaluate(make_policy({"vulnerabilities": VULNS}), URI, [occurrence], NOW, glass)
    assert (result.allowed, result.decision, result.breakglass) == (True, "ALLOW", glass)
    assert codes(result.violations) == ["SEVERITY_EXCEEDED"]
    assert result.to_dict()["breakglass"] == {"justification": "INC-42: outage fix"}


def test_breakglass_is_not_recorded_when_nothing_was_denied():
    result = evaluate(make_policy({}), URI, [], NOW, Breakglass("just in case"))
    assert (result.decision, result.breakglass) == ("ALLOW", None)
    assert "breakglass" not in result.to_dict()


@pytest.mark.parametrize("justification", ["", "   ", None])
def test_breakglass_needs_a_justification(justification):
    from grafeas_py.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="justification"):
        Breakglass(justification)


def test_exemptions_are_recorded():
    doc = {"exemptions": [{"artifact": "**", "rule": "scan", "justification": "no scanner yet"}]}
    cve = [{"cve": "CVE-2023-1234", "justification": "unreachable"}]
    policy = make_policy({"scan": SCAN, "vulnerabilities": {**VULNS, "exemptions": cve}}, **doc)
    result = evaluate(policy, URI, [vulnerability(severity="CRITICAL")], NOW)
    assert result.decision == "ALLOW"
    assert [(e.rule, e.code) for e in result.exempted] == [
        ("vulnerabilities", "SEVERITY_EXCEEDED"),
        ("scan", "RULE_EXEMPTED"),
    ]
    assert "exempted: unreachable" in result.exempted[0].message
    assert [e["code"] for e in result.to_dict()["exempted"]] == ["SEVERITY_EXCEEDED", "RULE_EXEMPTED"]


def test_allow_pattern_is_reported():
    result = evaluate(make_policy({"artifacts": {"allowPatterns": ["gcr.io/acme/**"]}}), URI, [None], NOW)
    assert (result.decision, result.allow_pattern, result.to_dict()["allowPattern"]) == (
        "ALLOW",
        "gcr.io/acme/**",
        "gcr.io/acme/**",
    )


@pytest.mark.parametrize("mode", ["enforce", "warn", "dryrun"])
def test_a_crashing_rule_denies_whatever_its_mode(monkeypatch, mode):
    def explode(rule, ctx):
        raise KeyError("surprise")

    monkeypatch.setitem(engine_module.CHECKS, "scan", explode)
    result = evaluate(make_policy({"scan": {**SCAN, "mode": mode}}), URI, [discovery(scanned=NOW)], NOW)
    assert result.decision == "DENY"
    (violation,) = result.violations
    assert (violation.rule, violation.mode, violation.code) == ("scan", "enforce", "EVALUATION_ERROR")
    assert "KeyError" in violation.message


def test_occurrences_must_be_a_list():
    result = evaluate(make_policy({}), URI, None, NOW)
    assert (result.decision, codes(result.violations)) == ("DENY", ["OCCURRENCE_MALFORMED"])


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="timezone"):
        evaluate(make_policy({}), URI, [], NOW.replace(tzinfo=None))


def test_a_note_of_another_kind_says_nothing_of_a_vulnerability_left_to_it():
    """Stored before a note id could change kind: a BUILD note under a VULNERABILITY occurrence gives no
    severity, so the occurrence is judged as one whose note is gone, not as unspecified."""
    from grafeas_py.gate import notes_needed, parse_policy

    policy = parse_policy({"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW"}}})
    unrated, rated = vulnerability(severity=None), vulnerability("CVE-2", "HIGH")
    [needed] = notes_needed(policy, [unrated, rated])  # only the one that leaves its severity to its note
    assert needed == unrated["noteName"]
    build_note = {"name": needed, "kind": "BUILD", "build": {"builderVersion": "1"}}
    decision = evaluate(policy, URI, [unrated], NOW, notes={needed: build_note})
    [violation] = decision.violations
    assert violation.code == "SEVERITY_UNKNOWN" and violation.evidence == [unrated["name"], needed]
    assert f"its note {needed} is a BUILD note), judged as CRITICAL" in violation.message
    assert evaluate(policy, URI, [unrated], NOW).decision == "ALLOW"  # given no notes: its own fields alone


# ---- a VEX assessment clears only findings in the packages it names ------------------------------

VEX_NOTE = "projects/acme/notes/vex-CVE-2022-1471-0123456789abcdef"
SNAKEYAML = "pkg:maven/org.yaml/snakeyaml"


def _in(location: str, version: str) -> dict:
    """A package issue as ingestion writes it: the purl without its version, the version apart."""
    return {
        "affectedCpeUri": location,
        "affectedPackage": location.rsplit("/", 1)[-1],
        "affectedVersion": {"kind": "NORMAL", "name": version, "fullName": version},
        "fixedVersion": {"kind": "NORMAL", "name": "2.0"},
    }


def _assessment(product_id: str | None, kind: str = "VULNERABILITY_ASSESSMENT") -> dict:
    product = {"name": "registry.example.com/payments/api", "genericUri": URI}
    if product_id is not None:
        product["id"] = product_id
    body = {"product": product, "assessment": {"vulnerabilityId": "CVE-2022-1471", "state": "NOT_AFFECTED"}}
    return {"name": VEX_NOTE, "kind": kind, "vulnerabilityAssessment": body}


@pytest.mark.parametrize(
    "product_id, issues, decision",
    [
        (f"{SNAKEYAML}@1.33", [_in(SNAKEYAML, "1.33")], "ALLOW"),
        # The same CVE elsewhere in the artifact: another version, another package, or both at once.
        (f"{SNAKEYAML}@1.33", [_in(SNAKEYAML, "1.30")], "DENY"),
        (f"{SNAKEYAML}@1.33", [_in("pkg:maven/com.example/yaml-shaded", "1.33")], "DENY"),
        (f"{SNAKEYAML}@1.33", [_in(SNAKEYAML, "1.33"), _in("pkg:maven/com.example/yaml-shaded", "4.0")], "DENY"),
        (f"{SNAKEYAML}@1.33", [], "DENY"),  # a finding naming no package is not shown to be in this one
        (SNAKEYAML, [_in(SNAKEYAML, "1.30")], "ALLOW"),  # a purl without a version names every version
        # Escaped or not, and whatever qualifiers each tool adds, a purl names the same package.
        ("pkg:npm/@babel/core@7.22.0", [_in("pkg:npm/%40babel/core", "7.22.0")], "ALLOW"),
        (
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1",
            [_in("pkg:apk/alpine/libcrypto3?arch=x86_64&upstream=openssl&distro=alpine-3.19.1", "3.1.4-r5")],
            "ALLOW",
        ),
        ("cpe:2.3:a:snakeyaml:snakeyaml:1.33:*:*:*:*:*:*:*", [_in(SNAKEYAML, "1.33")], "DENY"),
        # A subpath is a part of the package: it says nothing of another part, nor of the whole.
        ("pkg:golang/example.com/m@v1.0.0#sub/a", [_in("pkg:golang/example.com/m#sub/b", "v1.0.0")], "DENY"),
        ("pkg:golang/example.com/m@v1.0.0#sub/a", [_in("pkg:golang/example.com/m", "v1.0.0")], "DENY"),
        ("pkg:golang/example.com/m@v1.0.0#/sub/a/", [_in("pkg:golang/example.com/m#sub/a", "v1.0.0")], "ALLOW"),
        ("pkg:golang/example.com/m@v1.0.0", [_in("pkg:golang/example.com/m#sub/b", "v1.0.0")], "ALLOW"),
        # The scheme in capitals is still a package URL: read as none, it cleared the whole artifact.
        ("PKG:maven/org.yaml/snakeyaml@1.33", [_in("pkg:maven/com.example/yaml-shaded", "1.33")], "DENY"),
        ("PKG:maven/org.yaml/snakeyaml@1.33", [_in(SNAKEYAML, "1.33")], "ALLOW"),
        # An assessment naming no package, or an id that is no package, is about the artifact as a whole.
        (None, [_in("pkg:maven/com.example/yaml-shaded", "1.33")], "ALLOW"),
        ("CSAFPID-0001", [_in("pkg:maven/com.example/yaml-shaded", "1.33")], "ALLOW"),
    ],
)
def test_a_vex_assessment_clears_only_findings_in_the_package_it_names(product_id, issues, decision):
    from grafeas_py.gate import notes_needed, parse_policy

    policy = parse_policy({"rules": {"vulnerabilities": VULNS}})
    found = vulnerability(
        "CVE-2022-1471", "CRITICAL", packageIssue=issues, vexAssessment={"state": "NOT_AFFECTED", "noteName": VEX_NOTE}
    )
    assert notes_needed(policy, [found]) == {VEX_NOTE}  # the note that says what the assessment covers
    result = evaluate(policy, URI, [found], NOW, notes={VEX_NOTE: _assessment(product_id)})
    assert result.decision == decision
    if decision == "DENY":
        [violation] = result.violations
        assert violation.code.endswith("SEVERITY_EXCEEDED") and violation.evidence == [found["name"], VEX_NOTE]
        assert f"its VEX assessment (NOT_AFFECTED, note {VEX_NOTE}) covers only {product_id}" in violation.message


@pytest.mark.parametrize(
    "notes, says",
    [
        ({}, "no longer exists"),
        (
            {VEX_NOTE: _assessment(None, kind="VULNERABILITY")},
            "is a VULNERABILITY note, not a VULNERABILITY_ASSESSMENT",
        ),
    ],
)
def test_a_vex_assessment_whose_note_cannot_say_what_it_covers_clears_nothing(notes, says):
    """Read as the whole artifact, a scoped assessment whose note was deleted would let everything through."""
    found = vulnerability("CVE-2022-1471", "CRITICAL", vexAssessment={"state": "FIXED", "noteName": VEX_NOTE})
    result = evaluate(make_policy({"vulnerabilities": VULNS}), URI, [found], NOW, notes=notes)
    [violation] = result.violations
    assert f"its VEX assessment (FIXED) is not honoured: its note {VEX_NOTE} {says}" in violation.message
    assert violation.evidence == [found["name"], VEX_NOTE]
    # Without a note to name, the assessment covers the whole artifact, as it always did.
    del found["vulnerability"]["vexAssessment"]["noteName"]
    assert evaluate(make_policy({"vulnerabilities": VULNS}), URI, [found], NOW, notes=notes).decision == "ALLOW"


def _assessment_with(assessment: dict | None = None, **product) -> dict:
    """An assessment note of the whole artifact, its assessment and product fields changed."""
    note = _assessment(None)
    note["vulnerabilityAssessment"]["assessment"].update(assessment or {})
    note["vulnerabilityAssessment"]["product"].update(product)
    return note


@pytest.mark.parametrize(
    "note, says",
    [
        # Pointed at the assessment of another CVE (by a client's mistake, or a note id reused).
        (_assessment_with({"vulnerabilityId": "CVE-2021-44228"}), "assesses CVE-2021-44228, not CVE-2022-1471"),
        (_assessment_with({"vulnerabilityId": "", "cve": "CVE-2021-44228"}), "assesses CVE-2021-44228"),
        # The same image under another digest is another artifact.
        (_assessment_with(genericUri=OTHER_URI), f"is about {OTHER_URI}, not {URI}"),
        # The publisher's statement says the artifact is affected, whatever the occurrence copied.
        (_assessment_with({"state": "AFFECTED"}), "says AFFECTED"),
        (_assessment_with({"state": "UNDER_INVESTIGATION"}), "says UNDER_INVESTIGATION"),
    ],
)
def test_a_vex_assessment_whose_note_is_about_something_else_clears_nothing(note, says):
    found = vulnerability("CVE-2022-1471", "CRITICAL", vexAssessment={"state": "NOT_AFFECTED", "noteName": VEX_NOTE})
    result = evaluate(make_policy({"vulnerabilities": VULNS}), URI, [found], NOW, notes={VEX_NOTE: note})
    [violation] = result.violations
    assert violation.code == "SEVERITY_EXCEEDED"  # a fixable CRITICAL, as if it had no assessment
    assert f"its VEX assessment (NOT_AFFECTED) is not honoured: its note {VEX_NOTE} {says}" in violation.message
    assert violation.evidence == [found["name"], VEX_NOTE]


@pytest.mark.parametrize(
    "note",
    [
        _assessment_with({"vulnerabilityId": "cve-2022-1471"}),  # ids compared without case
        _assessment_with({"vulnerabilityId": ""}),  # naming none: the occurrence's own note says which
        _assessment_with({"state": "FIXED"}),  # the note's and the occurrence's states both clear it
        _assessment_with({"state": ""}),
        _assessment_with(genericUri=URI.removeprefix("https://")),  # one artifact, spelled two ways
        _assessment_with(genericUri=""),
    ],
)
def test_a_vex_assessment_whose_note_is_about_this_finding_clears_it(note):
    found = vulnerability("CVE-2022-1471", "CRITICAL", vexAssessment={"state": "NOT_AFFECTED", "noteName": VEX_NOTE})
    assert evaluate(make_policy({"vulnerabilities": VULNS}), URI, [found], NOW, notes={VEX_NOTE: note}).decision == (
        "ALLOW"
    )


def test_a_vex_assessment_matches_a_vulnerability_by_the_note_id_ingestion_makes_of_it():
    """Ingestion names a vulnerability's note after its id, cleaned of what a note id may not hold."""
    vid = "GO-2024/2687"  # no vulnerability id of this shape exists; the slash is what matters
    found = vulnerability(safe_note_id(vid), "CRITICAL", vexAssessment={"state": "FIXED", "noteName": VEX_NOTE})
    assert found["noteName"].endswith("/" + safe_note_id(vid)) and safe_note_id(vid) != vid
    note = _assessment_with({"vulnerabilityId": vid})
    assert evaluate(make_policy({"vulnerabilities": VULNS}), URI, [found], NOW, notes={VEX_NOTE: note}).decision == (
        "ALLOW"
    )


# ---- a compliance rule's notes -------------------------------------------------------------------

CIS_NOTE = {"name": CIS, "kind": "COMPLIANCE", "compliance": {"title": "CIS 4.1"}}


@pytest.mark.parametrize(
    ("notes", "says"),
    [
        ({}, "does not exist (misspelt, or a check that has never failed yet)"),
        ({CIS: {"name": CIS, "kind": "VULNERABILITY"}}, "is a VULNERABILITY note, not a COMPLIANCE note"),
    ],
)
@pytest.mark.parametrize(("mode", "decision"), [("enforce", "ALLOW_WITH_WARNINGS"), ("dryrun", "ALLOW")])
def test_a_compliance_rule_on_a_note_no_occurrence_can_be_on_warns_without_denying(notes, says, mode, decision):
    """A misspelt note would pass every artifact unseen; a scanner's check note appears on its first failure."""
    policy = make_policy({"compliance": {"noteNames": [CIS], "mode": mode}})
    assert CIS in engine_module.notes_needed(policy, [])
    result = evaluate(policy, URI, [], NOW, notes=notes)
    assert result.decision == decision and not result.violations
    [warning] = result.warnings
    assert (warning.rule, warning.mode, warning.code) == (
        "compliance",
        "warn" if mode == "enforce" else "dryrun",
        "COMPLIANCE_NOTE_MISSING",
    )
    assert warning.message == f"the compliance rule's note {CIS} {says}: no artifact can be found non-compliant with it"


def test_a_compliance_rule_still_denies_beside_the_warning_for_a_deleted_note():
    """Occurrences outlive their note: what they report still counts."""
    result = evaluate(
        make_policy({"compliance": {"noteNames": [CIS]}}), URI, [compliance(CIS, reason="x")], NOW, notes={}
    )
    assert result.decision == "DENY"
    assert codes(result.violations) == ["NON_COMPLIANT"] and codes(result.warnings) == ["COMPLIANCE_NOTE_MISSING"]


def test_a_compliance_rule_on_an_existing_note_warns_of_nothing():
    policy = make_policy({"compliance": {"noteNames": [CIS]}})
    assert evaluate(policy, URI, [], NOW, notes={CIS: CIS_NOTE}).decision == "ALLOW"
    assert evaluate(policy, URI, [], NOW).decision == "ALLOW"  # no notes given: nothing to tell by


# ---- a package's licence, as its note declares it --------------------------------------------------

AGPL_DENIED = {"packages": {"denyLicenses": ["AGPL-3.0-only"]}}


def _package_note(name: str, licence: str) -> dict:
    return {
        "name": f"projects/vendor/notes/{name}",
        "kind": "PACKAGE",
        "package": {"name": name, "license": {"expression": licence}},
    }


def test_a_package_declaring_no_licence_is_judged_by_its_notes():
    """Grafeas's PackageNote declares the licence of every installation of its package."""
    found = package("mongo-driver", "1.0")
    note = _package_note("mongo-driver", "AGPL-3.0-only")
    policy = make_policy(AGPL_DENIED)
    assert engine_module.notes_needed(policy, [found]) == {note["name"]}
    result = evaluate(policy, URI, [found], NOW, notes={note["name"]: note})
    [violation] = result.violations
    assert violation.code == "LICENSE_DENIED"
    assert f"under the licence AGPL-3.0-only (as its note {note['name']} declares)" in violation.message
    assert violation.evidence == [found["name"], note["name"]]


@pytest.mark.parametrize(
    ("occurrence_licence", "note"),
    [
        ("MIT", _package_note("mongo-driver", "AGPL-3.0-only")),  # the occurrence's own says what this copy is under
        ("", {**_package_note("mongo-driver", "AGPL-3.0-only"), "kind": "VULNERABILITY"}),  # not a package note
        ("", _package_note("mongo-driver", "")),
    ],
)
def test_a_package_notes_licence_counts_only_where_the_occurrence_declares_none(occurrence_licence, note):
    found = package("mongo-driver", "1.0", occurrence_licence)
    policy = make_policy(AGPL_DENIED)
    assert evaluate(policy, URI, [found], NOW, notes={note["name"]: note}).decision == "ALLOW"


def test_notes_are_read_for_licences_only_when_licences_are_denied():
    found = package("mongo-driver", "1.0")
    assert engine_module.notes_needed(make_policy({"packages": {"denyPackages": [{"name": "x"}]}}), [found]) == set()
    assert engine_module.notes_needed(make_policy(AGPL_DENIED), [package("a", "1", "MIT")]) == set()
