"""SLSA provenance, DSSE envelopes and JUnit test results."""

from __future__ import annotations

import base64
import codecs
import hashlib
import json

import pytest

from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, TEST_RESULT_PREDICATE_TYPE
from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest import parse_report, require_resource_digest, resource_digest

from .support import DIGEST, IMAGE, NOW, details, envelope_statement, ingest, junit_report, raw

# ---- the resource digest rule --------------------------------------------------------------


@pytest.mark.parametrize(
    "uri,digest",
    [
        (IMAGE, DIGEST),
        (f"https://downloads.example.com/app-2.14.0.jar#sha256={DIGEST}", DIGEST),
        (f"file://sha256:{DIGEST}:app-2.14.0.tar.gz", DIGEST),
        (f"https://downloads.example.com/app-2.14.0.tar.gz#sha256:{DIGEST}", None),  # not a form the gate reads
        ("https://registry.example.com/payments/api:2.14.0", None),
        (f"https://registry.example.com/payments/api@sha256:{DIGEST.upper()}", None),
        (f"https://registry.example.com/payments/api@sha256:{DIGEST}0", None),
        (f"https://registry.example.com/payments/api@sha512:{DIGEST}{DIGEST}", None),
    ],
)
def test_resource_digest(uri, digest):
    assert resource_digest(uri) == digest


def test_require_resource_digest_explains_the_rule():
    with pytest.raises(
        InvalidArgument,
        match=r"an image ending in @sha256:<64 hex>, a .jar, .war or .zip URL ending in #sha256=<64 hex>",
    ):
        require_resource_digest("https://registry.example.com/payments/api:latest")


# ---- SLSA ----------------------------------------------------------------------------------


def test_slsa_statement_becomes_a_build_occurrence():
    plan = ingest("slsa", "slsa/payments-api.provenance.json")
    [occurrence] = plan.occurrences
    build = occurrence.body["build"]
    provenance = build["inTotoSlsaProvenanceV1"]
    assert provenance["type"] == "https://in-toto.io/Statement/v1"
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    assert provenance["subject"] == [{"name": "registry.example.com/payments/api", "digest": {"sha256": DIGEST}}]
    predicate = provenance["predicate"]
    assert predicate["runDetails"]["builder"] == {
        "id": "https://github.com/actions/runner/github-hosted",
        "version": {"runner": "2.321.0"},
    }
    assert predicate["buildDefinition"]["externalParameters"]["workflow"]["ref"] == "refs/tags/v2.14.0"
    assert predicate["buildDefinition"]["resolvedDependencies"][1]["annotations"] == {
        "role": "base image",
        "pinned": True,
    }
    assert predicate["runDetails"]["metadata"]["finishedOn"] == "2024-12-03T08:52:47.500Z"
    assert build["provenance"] == {
        "id": "https://github.com/example-corp/payments-api/actions/runs/12131457011/attempts/1",
        "builderVersion": "https://github.com/actions/runner/github-hosted",
        "startTime": "2024-12-03T08:41:02Z",
        "endTime": "2024-12-03T08:52:47.500Z",
        "builtArtifacts": [
            {
                "id": "registry.example.com/payments/api",
                "checksum": f"sha256:{DIGEST}",
                "names": ["registry.example.com/payments/api"],
            }
        ],
    }
    assert build["provenanceBytes"] == raw("slsa/payments-api.provenance.json").decode()
    assert "envelope" not in occurrence.body
    note = plan.notes[occurrence.body["noteName"]]
    assert note["build"] == {"builderVersion": "https://github.com/actions/runner/github-hosted"}
    assert occurrence.body["noteName"].rsplit("/", 1)[1].startswith("github.com-actions-runner-github-hosted-")


def test_slsa_in_a_dsse_envelope_keeps_the_envelope():
    from_statement = ingest("slsa", "slsa/payments-api.provenance.json").occurrences[0].body
    [occurrence] = ingest("slsa", "slsa/payments-api.provenance.dsse.json").occurrences
    envelope = json.loads(raw("slsa/payments-api.provenance.dsse.json"))
    assert occurrence.body["envelope"] == {
        "payload": envelope["payload"],
        "payloadType": "application/vnd.in-toto+json",
        "signatures": [{"sig": envelope["signatures"][0]["sig"]}],  # keyid "" is the proto3 default
    }
    build = occurrence.body["build"]
    assert build["inTotoSlsaProvenanceV1"] == from_statement["build"]["inTotoSlsaProvenanceV1"]
    assert "provenanceBytes" not in build
    assert occurrence.body["noteName"] == from_statement["noteName"]


def test_slsa_members_grafeas_does_not_model_are_ignored_and_bad_values_refused():
    doc = json.loads(raw("slsa/payments-api.provenance.json"))
    doc["predicate"]["runDetails"]["metadata"]["x-vendor-extension"] = {"anything": 1}
    plan = ingest("slsa", json.dumps(doc).encode())
    assert "x-vendor-extension" not in json.dumps(plan.occurrences[0].body["build"]["inTotoSlsaProvenanceV1"])
    doc["predicate"]["runDetails"]["metadata"]["startedOn"] = "yesterday"
    with pytest.raises(InvalidArgument, match=r"predicate\.runDetails\.metadata\.startedOn: 'yesterday' is not"):
        ingest("slsa", json.dumps(doc).encode())


def test_slsa_errors_inside_an_envelope_point_into_the_payload():
    envelope = json.loads(raw("slsa/payments-api.provenance.dsse.json"))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicateType"] = "https://slsa.dev/provenance/v0.2"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(InvalidArgument, match=r"payload\.predicateType: expected 'https://slsa.dev/provenance/v1'"):
        ingest("slsa", json.dumps(envelope).encode())


# ---- DSSE ----------------------------------------------------------------------------------


def test_dsse_envelope_is_kept_and_a_slsa_0_2_statement_decoded():
    plan = ingest("dsse", "dsse/cosign-slsa-v0.2.json")
    [attestation] = details(plan, "dsseAttestation")
    envelope = json.loads(raw("dsse/cosign-slsa-v0.2.json"))
    assert attestation["envelope"]["payload"] == envelope["payload"]
    assert attestation["envelope"]["signatures"] == [{"sig": envelope["signatures"][0]["sig"]}]
    statement = attestation["statement"]
    assert statement["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert statement["subject"][0]["digest"] == {"sha256": DIGEST}
    assert statement["slsaProvenanceZeroTwo"]["builder"] == {
        "id": "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3"
    }
    assert statement["slsaProvenanceZeroTwo"]["metadata"]["buildInvocationId"] == "8a1f2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
    [note] = plan.notes.values()
    assert note["dsseAttestation"] == {"hint": {"humanReadableName": "https://slsa.dev/provenance/v0.2"}}


def test_dsse_with_a_predicate_grafeas_does_not_model_keeps_the_statement_header():
    [attestation] = details(ingest("dsse", "dsse/cosign-vuln-two-signatures.json"), "dsseAttestation")
    assert attestation["statement"] == {
        "type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "registry.example.com/payments/api", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
    }
    assert [s["keyid"] for s in attestation["envelope"]["signatures"]] == [
        "SHA256:pQk4vZ8nA0Q2b7rT1yG5hXc3wE9uI6oL2mN8sD4fJ0k",
        "projects/example-corp/locations/global/keyRings/attestors/cryptoKeys/scanner/cryptoKeyVersions/1",
    ]


def test_dsse_with_another_payload_type_keeps_only_the_envelope():
    plan = ingest("dsse", "dsse/plain-text-payload.json")
    [attestation] = details(plan, "dsseAttestation")
    assert list(attestation) == ["envelope"]
    assert base64.b64decode(attestation["envelope"]["payload"]) == b"release 2.14.0 approved by change board CAB-4821"
    assert list(plan.notes.values())[0]["dsseAttestation"]["hint"]["humanReadableName"] == "text/plain"


def test_dsse_url_safe_base64_reads_as_the_same_bytes_and_key():
    envelope = json.loads(raw("dsse/cosign-vuln-two-signatures.json"))
    standard = ingest("dsse", json.dumps(envelope).encode())
    for item in [envelope, *envelope["signatures"]]:
        key = "payload" if "payload" in item else "sig"
        item[key] = item[key].replace("+", "-").replace("/", "_").rstrip("=")
    url_safe = ingest("dsse", json.dumps(envelope).encode())
    assert url_safe.occurrences[0].body == standard.occurrences[0].body
    assert url_safe.occurrences[0].key == standard.occurrences[0].key


def test_dsse_another_signer_is_another_attestation():
    envelope = json.loads(raw("dsse/cosign-slsa-v0.2.json"))
    first = ingest("dsse", json.dumps(envelope).encode()).occurrences[0].key
    envelope["signatures"][0]["keyid"] = "other-key"
    assert ingest("dsse", json.dumps(envelope).encode()).occurrences[0].key != first


def bundle(envelope: dict) -> dict:
    """A Sigstore bundle (v0.3) around a DSSE envelope, as `gh attestation download` writes one."""
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": "MIIB"}, "tlogEntries": []},
        "dsseEnvelope": envelope,
    }


def test_a_sigstore_bundle_is_read_as_its_envelope():
    for fmt, fixture in [("dsse", "dsse/cosign-slsa-v0.2.json"), ("slsa", "slsa/payments-api.provenance.dsse.json")]:
        envelope = json.loads(raw(fixture))
        plain = ingest(fmt, json.dumps(envelope).encode()).occurrences
        bundled = ingest(fmt, json.dumps(bundle(envelope)).encode()).occurrences
        assert [(o.key, o.body) for o in bundled] == [(o.key, o.body) for o in plain], fmt


def test_errors_inside_a_bundle_name_its_envelope():
    envelope = json.loads(raw("dsse/cosign-slsa-v0.2.json"))
    del envelope["payloadType"]
    with pytest.raises(InvalidArgument, match=r"dsse report: dsseEnvelope\.payloadType: is required"):
        ingest("dsse", json.dumps(bundle(envelope)).encode())
    envelope = json.loads(raw("slsa/payments-api.provenance.dsse.json"))
    envelope["payload"] = base64.b64encode(b'{"_type": 5}').decode()
    with pytest.raises(InvalidArgument, match=r"slsa report: dsseEnvelope\.payload\._type"):
        ingest("slsa", json.dumps(bundle(envelope)).encode())
    blob = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "messageSignature": {}}
    with pytest.raises(InvalidArgument, match="signs a blob, not an attestation"):
        ingest("dsse", json.dumps(blob).encode())


def test_slsa_reads_the_provenance_among_the_bundles_gh_attestation_download_writes():
    """One bundle a line, an SBOM attestation's too: the file was refused as "unexpected content"."""
    provenance = bundle(json.loads(raw("slsa/payments-api.provenance.dsse.json")))
    sbom = json.loads(raw("slsa/payments-api.provenance.dsse.json"))
    statement = json.loads(base64.b64decode(sbom["payload"]))
    sbom["payload"] = base64.b64encode(json.dumps({**statement, "predicateType": "https://spdx.dev/Document"}).encode())
    sbom["payload"] = sbom["payload"].decode()
    lines = b"\n".join(json.dumps(doc).encode() for doc in (bundle(sbom), provenance)) + b"\n"
    assert [(o.key, o.body) for o in ingest("slsa", lines).occurrences] == [
        (o.key, o.body) for o in ingest("slsa", json.dumps(provenance).encode()).occurrences
    ]
    with pytest.raises(InvalidArgument) as caught:
        ingest("slsa", b"\n".join([json.dumps(bundle(sbom)).encode()] * 2))
    assert caught.value.message == (
        "invalid slsa report: no line holds 'https://slsa.dev/provenance/v1', only 'https://spdx.dev/Document'"
    )
    with_bom = codecs.BOM_UTF8 + lines  # as PowerShell's Out-File -Encoding utf8 writes it
    assert len(ingest("slsa", with_bom).occurrences) == len(ingest("dsse", with_bom).occurrences) - 1 == 1
    with pytest.raises(InvalidArgument, match=r"^invalid slsa report: line 2: not valid JSON"):
        ingest("slsa", json.dumps(provenance).encode() + b"\n{")


def test_json_lines_of_envelopes_are_one_occurrence_each():
    """`cosign download attestation` prints one envelope per line when an image has several."""
    first, second = (json.loads(raw(f)) for f in ("dsse/cosign-slsa-v0.2.json", "dsse/cosign-vuln-two-signatures.json"))
    lines = b"\n".join(json.dumps(doc).encode() for doc in (first, bundle(second))) + b"\n"
    plan = ingest("dsse", lines)
    one_by_one = [ingest("dsse", json.dumps(doc).encode()).occurrences[0] for doc in (first, second)]
    assert [(o.key, o.body) for o in plan.occurrences] == [(o.key, o.body) for o in one_by_one]
    broken = lines + json.dumps({"payloadType": "text/plain"}).encode()
    with pytest.raises(InvalidArgument, match=r"dsse report: line 3: payload: is required"):
        ingest("dsse", broken)


def test_a_pretty_printed_envelope_with_a_problem_is_not_read_as_lines():
    envelope = json.loads(raw("dsse/cosign-slsa-v0.2.json"))
    del envelope["payload"]
    with pytest.raises(InvalidArgument, match=r"dsse report: payload: is required"):
        ingest("dsse", json.dumps(envelope, indent=2).encode())


@pytest.mark.parametrize(
    "subject, message",
    [
        ([], "subject: is empty: an in-toto statement names at least one subject"),
        ([{"name": "app"}], "subject[0].digest: is required: a subject is named by its digests"),
        ([{"name": "app", "digest": {}}], "subject[0].digest: is required"),
    ],
)
def test_a_statement_about_no_subject_is_refused(subject, message):
    """Read as about whatever it is posted for, it passed the provenance rule for any image."""
    statement = json.loads(raw("slsa/payments-api.provenance.json"))
    statement["subject"] = subject
    with pytest.raises(InvalidArgument) as caught:
        ingest("slsa", json.dumps(statement).encode())
    assert caught.value.message.startswith(f"invalid slsa report: {message}"), caught.value.message


def test_a_slsa_0_2_build_invocation_id_of_the_wrong_type_is_refused_where_it_is_written():
    envelope = json.loads(raw("dsse/slsa-github-generator-v0.2.intoto.jsonl"))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["metadata"]["buildInvocationID"] = 8373487016
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(InvalidArgument, match=r"payload\.predicate\.metadata\.buildInvocationID: expected a string"):
        ingest("dsse", json.dumps(envelope).encode())


def test_dsse_statement_must_be_in_toto():
    envelope = json.loads(raw("dsse/cosign-slsa-v0.2.json"))
    envelope["payload"] = base64.b64encode(b'{"_type": "something-else", "subject": []}').decode()
    with pytest.raises(InvalidArgument, match=r"payload\._type: unknown value 'something-else'"):
        ingest("dsse", json.dumps(envelope).encode())


# ---- JUnit ---------------------------------------------------------------------------------


def _test_result(plan) -> tuple[dict, dict]:
    [attestation] = details(plan, "dsseAttestation")
    return attestation, envelope_statement(attestation["envelope"])


PYTEST_PASSED = [
    "pytest/tests.test_payments.TestRefunds.test_refund_is_idempotent",
    "pytest/tests.test_payments.TestRefunds.test_partial_refund_keeps_remaining_balance",
    "pytest/tests.test_payments.test_currency_rounding[EUR]",
    "pytest/tests.test_payments.test_currency_rounding[JPY]",
]


def _sha256_of_lines(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_junit_passed_report_is_an_unsigned_test_result_attestation():
    plan = ingest("junit", "junit/pytest-passed.xml")
    attestation, statement = _test_result(plan)
    assert attestation["envelope"]["payloadType"] == IN_TOTO_PAYLOAD_TYPE
    assert "signatures" not in attestation["envelope"]
    assert statement == {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": IMAGE, "digest": {"sha256": DIGEST}}],
        "predicateType": TEST_RESULT_PREDICATE_TYPE,
        "predicate": {
            "result": "PASSED",
            "configuration": [{"name": "junit", "digest": {"sha256": _sha256_of_lines(sorted(PYTEST_PASSED))}}],
            "passedTests": PYTEST_PASSED,
            "failedTests": [],
            "warnedTests": [],
        },
    }
    assert attestation["statement"] == {
        "type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": IMAGE, "digest": {"sha256": DIGEST}}],
        "predicateType": TEST_RESULT_PREDICATE_TYPE,
    }
    assert list(plan.notes) == ["projects/supply-chain/notes/test-results"]


def test_junit_failures_and_errors_fail_and_skips_warn():
    _, failed = _test_result(ingest("junit", "junit/gradle-failed.xml"))
    assert failed["predicate"]["result"] == "FAILED"
    assert failed["predicate"]["failedTests"] == [
        "com.example.payments.api.RefundControllerTest/com.example.payments.api.RefundControllerTest.refundsInFull()",
        "com.example.payments.db.MigrationTest/com.example.payments.db.MigrationTest.appliesAllMigrations()",
    ]
    assert len(failed["predicate"]["passedTests"]) == 2
    _, mixed = _test_result(ingest("junit", "junit/surefire-mixed.xml"))
    assert mixed["predicate"]["result"] == "WARNED"
    assert mixed["predicate"]["warnedTests"] == [
        "com.example.payments.LedgerServiceTest/com.example.payments.LedgerServiceTest.exportsToParquet"
    ]
    # A flaky failure that passed on rerun is a pass, as Surefire counts it.
    assert any(t.endswith(".reconcilesAfterRestart") for t in mixed["predicate"]["passedTests"])
    _, empty = _test_result(ingest("junit", "junit/empty-suite.xml"))
    assert empty["predicate"]["result"] == "WARNED"  # no test ran: nothing was proved


def test_junit_payload_is_deterministic():
    first, second = ingest("junit", "junit/gradle-failed.xml"), ingest("junit", "junit/gradle-failed.xml")
    assert first.occurrences == second.occurrences


def test_junit_needs_the_artifact_digest():
    with pytest.raises(InvalidArgument, match="resourceUri must name the artifact's digest") as caught:
        ingest("junit", "junit/pytest-passed.xml", resource_uri="https://registry.example.com/payments/api:2.14.0")
    assert "invalid junit report" not in caught.value.message  # the report is fine, the URI is not
    plan = ingest("junit", "junit/pytest-passed.xml", resource_uri=f"https://dl.example.com/app.war#sha256={DIGEST}")
    assert _test_result(plan)[1]["subject"][0]["digest"] == {"sha256": DIGEST}


def test_junit_nested_suites_use_the_innermost_name():
    xml = (
        b'<testsuites><testsuite name="all"><testsuite name="unit">'
        b'<testcase classname="a.B" name="c"/></testsuite><testcase name="top"/></testsuite></testsuites>'
    )
    _, statement = _test_result(ingest("junit", xml))
    assert statement["predicate"]["passedTests"] == ["all/top", "unit/a.B.c"]


# jest-junit's report of a test file that failed to load: the suite counts an error but lists no test.
SUITE_THAT_FAILED_TO_LOAD = (
    b'<testsuites name="jest tests" tests="2" failures="0" errors="1">'
    b'<testsuite name="src/payments.test.js" errors="1" failures="0" skipped="0" tests="0"></testsuite>'
    b'<testsuite name="src/ledger.test.js" errors="0" failures="0" skipped="0" tests="2">'
    b'<testcase classname="ledger" name="adds"/><testcase classname="ledger" name="rounds"/></testsuite>'
    b"</testsuites>"
)


def test_junit_errors_a_suite_counts_but_lists_no_test_for_fail_the_report():
    _, statement = _test_result(ingest("junit", SUITE_THAT_FAILED_TO_LOAD))
    predicate = statement["predicate"]
    assert predicate["result"] == "FAILED"
    assert predicate["failedTests"] == ["src/payments.test.js"]  # one test, named after the suite
    assert predicate["passedTests"] == ["src/ledger.test.js/ledger.adds", "src/ledger.test.js/ledger.rounds"]


@pytest.mark.parametrize(
    "xml, failed",
    [
        # Counts a parent suite sums from its children's listed failures add nothing.
        (
            b'<testsuites errors="1"><testsuite name="all" errors="1"><testsuite name="unit" errors="1">'
            b'<testcase name="a"><error/></testcase></testsuite></testsuite></testsuites>',
            ["unit/a"],
        ),
        # A nested suite's unlisted failure is counted once, where it is.
        (
            b'<testsuite name="all" failures="2"><testsuite name="unit" failures="1"/>'
            b'<testcase name="a"><failure/></testcase></testsuite>',
            ["all/a", "unit"],
        ),
        # More failures than the suite lists: the suite stands for the rest, once.
        (
            b'<testsuite name="s" failures="99999999999999999999999"><testcase name="a"><failure/></testcase>'
            b'<testcase name="b"/></testsuite>',
            ["s/a", "s"],
        ),
        (
            b'<testsuites failures="1"><testsuite><testcase name="a"/></testsuite></testsuites>',
            ["<testsuites> at line 1"],
        ),
        (b'<testsuite errors="1"/>', ["<testsuite> at line 1"]),
        # A test right under <testsuites> (no counts there to give it away) was left out: the report passed.
        (
            b'<testsuites name="r"><testsuite name="s"><testcase classname="a" name="ok"/></testsuite>'
            b'<testcase classname="a" name="bad"><failure/></testcase></testsuites>',
            ["r/a.bad"],
        ),
        (
            b'<testsuites failures="1"><testcase name="bad"><failure/></testcase></testsuites>',
            ["bad"],  # counted once: the root's count is its own test's
        ),
        # Counts that are not whole numbers say nothing.
        (b'<testsuite name="s" errors="-1" failures="one"><testcase name="a"/></testsuite>', []),
        (b'<testsuite name="s" errors=" 0 " failures="0.5"><testcase name="a"/></testsuite>', []),
    ],
)
def test_junit_suite_counts_beyond_the_failures_listed_fail(xml, failed):
    _, statement = _test_result(ingest("junit", xml))
    assert statement["predicate"]["failedTests"] == failed
    assert statement["predicate"]["result"] == ("FAILED" if failed else "PASSED")


def _configuration(xml: bytes, suite: str | None = None) -> list[dict]:
    plan = parse_report("junit", xml, resource_uri=IMAGE, project="p", note_project="p", now=NOW, suite=suite)
    return _test_result(plan)[1]["predicate"]["configuration"]


def test_junit_configuration_is_the_set_of_tests_unless_a_suite_is_named():
    """The gate counts the newest result of each configuration: a rerun must share it, other tests not."""
    failed = _configuration(junit_report("e2e", {"checkout": False, "login": True}))
    assert failed == [{"name": "junit", "digest": {"sha256": _sha256_of_lines(["e2e/checkout", "e2e/login"])}}]
    assert _configuration(junit_report("e2e", {"login": True, "checkout": True})) == failed  # a rerun, in another order
    assert _configuration(junit_report("unit", {"checkout": True, "login": True})) != failed
    assert _configuration(junit_report("e2e", {"checkout": True})) != failed
    assert _configuration(junit_report("any", {"checkout": True}), suite="e2e") == [{"name": "junit:e2e"}]


def test_junit_reports_of_two_suites_are_two_results_even_when_their_bytes_are_the_same():
    from grafeas_py.ingest import occurrence_key

    xml = raw("junit/pytest-passed.xml")

    def key(suite):
        plan = parse_report("junit", xml, resource_uri=IMAGE, project="p", note_project="p", now=NOW, suite=suite)
        return plan.occurrences[0].key

    assert key(None) == occurrence_key("junit", IMAGE, ("junit", hashlib.sha256(xml).hexdigest()))  # as before
    assert len({key(None), key("e2e"), key("unit")}) == 3


@pytest.mark.parametrize(
    "format, suite, message",
    [
        ("junit", "", "suite must not be empty"),
        ("junit", "x" * 256, "at most 255 characters"),
        ("junit", "e2e\n", "control characters"),
        ("junit", "e2e\x85", "control characters"),
        ("junit", " e2e", "begin or end with a space"),
        ("trivy", "e2e", "a trivy report has none"),
    ],
)
def test_a_bad_suite_is_refused(format, suite, message):
    source = raw("junit/pytest-passed.xml" if format == "junit" else "trivy/clean-image.json")
    with pytest.raises(InvalidArgument, match=message):
        parse_report(format, source, resource_uri=IMAGE, project="p", note_project="p", now=NOW, suite=suite)


def test_xml_bombs_are_refused_before_anything_expands():
    for fixture in ("junit/billion-laughs.xml", "junit/external-entity.xml"):
        with pytest.raises(InvalidArgument, match="DTDs and entities are not allowed"):
            ingest("junit", fixture)
