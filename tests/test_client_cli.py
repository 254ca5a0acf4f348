"""`grafeas-py` as a CI client, against the real test server over HTTP: exit codes a pipeline can use."""

import base64
import functools
import json
import os
import signal
import socket
import subprocess
import threading
import unicodedata
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pysequoia import Tsk

from grafeas_py.cli import main
from grafeas_py.gate.keys import default_key_id
from tests.factories import NOTE_BODIES, occurrence_body
from tests.test_cli import GRAFEAS_PY, ROOT
from tests.unit.ingest.support import DIGEST, FIXTURES, IMAGE


@pytest.fixture
def cli(base_url):
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, [str(a) for a in args], input=input, env={"GRAFEAS_URL": base_url})

    return run


def grafeas_py(url, *args, input=None, env=None):
    """The `grafeas-py` console script, on this checkout's code, as a CI job runs it against `url`."""
    command = [GRAFEAS_PY, *map(str, args)]
    return subprocess.run(command, input=input, capture_output=True, text=True, env=_env(url, env), timeout=60)


def _env(url, env=None):
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "GRAFEAS_URL": url, **(env or {})}


@contextmanager
def front(reply):
    """A small HTTP server (a proxy, a redirect, a web server at the wrong --url) on a free port:
    `reply(method, path, headers, body)` gives each request's (status, headers, body)."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self):
            body = self.rfile.read(int(self.headers["Content-Length"] or 0))
            status, headers, data = reply(self.command, self.path, self.headers, body)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_notes_and_occurrences_round_trip(cli, project, tmp_path):
    note_file = tmp_path / "note.yaml"
    note_file.write_text(yaml.safe_dump(NOTE_BODIES["VULNERABILITY"]))
    name = f"projects/{project}/notes/CVE-2024-7"
    created = cli("notes", "create", name, "-f", note_file)
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["name"] == name
    assert yaml.safe_load(cli("notes", "get", name, "-o", "yaml").output)["kind"] == "VULNERABILITY"

    body = json.dumps(occurrence_body("VULNERABILITY", name, IMAGE))
    occ = cli("occurrences", "create", project, "-f", "-", input=body)
    assert occ.exit_code == 0, occ.output
    occ_name = json.loads(occ.output)["name"]
    table = cli("occurrences", "list", project, "--filter", 'kind="VULNERABILITY"', "-o", "table").output
    assert table.splitlines()[0].split() == ["name", "kind", "resourceUri", "noteName"]
    assert occ_name in table and IMAGE in table
    assert json.loads(cli("occurrences", "list", project, "--filter", 'kind="BUILD"').output) == []

    assert cli("occurrences", "delete", occ_name).exit_code == 0
    assert cli("notes", "delete", name).exit_code == 0
    missing = cli("notes", "get", name)
    assert missing.exit_code == 1 and "404" in missing.output and "not found" in missing.output


def test_occurrences_create_with_an_idempotency_key_creates_once(cli, project, http):
    name = f"projects/{project}/notes/CVE-2024-8"
    assert http.post(
        f"/v1/projects/{project}/notes", params={"noteId": "CVE-2024-8"}, json=NOTE_BODIES["VULNERABILITY"]
    ).ok
    body = json.dumps(occurrence_body("VULNERABILITY", name, IMAGE))
    runs = [
        cli("occurrences", "create", project, "-f", "-", "--idempotency-key", "job-41-scan", input=body) for _ in "ab"
    ]
    assert [r.exit_code for r in runs] == [0, 0], runs[1].output
    assert json.loads(runs[0].output) == json.loads(runs[1].output)
    fresh = cli("occurrences", "create", project, "-f", "-", input=body)  # a new key of its own
    assert fresh.exit_code == 0 and json.loads(fresh.output)["name"] != json.loads(runs[0].output)["name"]
    other = json.dumps(occurrence_body("VULNERABILITY", name, IMAGE + "-b"))
    reused = cli("occurrences", "create", project, "-f", "-", "--idempotency-key", "job-41-scan", input=other)
    assert reused.exit_code == 1 and "409" in reused.output and "Idempotency-Key" in reused.output


def test_exit_codes(cli, project):
    assert cli("notes", "get", "CVE-1").exit_code == 2  # not a note name: usage
    bad = cli("notes", "list", project, "--filter", "kind ==")
    assert bad.exit_code == 1 and "syntax error" in bad.output
    down = CliRunner().invoke(main, ["notes", "list", "p", "--url", "http://127.0.0.1:9"])
    assert down.exit_code == 3 and "cannot reach" in down.output


def test_ingest_is_idempotent_and_refuses_a_malformed_report(cli, project):
    report = FIXTURES / "trivy/alpine-app-image.json"
    first = cli("ingest", "trivy", report, "--project", project, "--resource", IMAGE)
    assert first.exit_code == 0, first.output
    created = int(first.output.split(" created")[0].rsplit(" ", 1)[1])
    assert created > 1 and "0 unchanged, 0 failed" in first.output
    again = cli("ingest", "trivy", report, "--project", project, "--resource", IMAGE)
    assert again.exit_code == 0 and f"0 created, 0 updated, {created} unchanged, 0 failed" in again.output

    broken = cli("ingest", "trivy", FIXTURES / "trivy/truncated.json", "--project", f"{project}-x", "--resource", IMAGE)
    assert broken.exit_code == 1 and "truncated.json" in broken.output and "line" in broken.output
    assert json.loads(cli("occurrences", "list", f"{project}-x").output) == []
    assert cli("ingest", "nessus", report, "--project", project, "--resource", IMAGE).exit_code == 2


def test_ingest_of_an_openvex_document_sends_its_notes_and_copies_them_onto_the_findings(cli, project):
    """A VEX document plans notes only; they go in a batch of their own, which the server copies."""
    scan = cli("ingest", "trivy", FIXTURES / "trivy/alpine-app-image.json", "--project", project, "--resource", IMAGE)
    assert scan.exit_code == 0, scan.output
    vex = cli(
        "ingest", "openvex", FIXTURES / "openvex/payments-api.openvex.json", "--project", project, "--resource", IMAGE
    )
    assert vex.exit_code == 0, vex.output
    assert "openvex report for" in vex.output and "0 created, 3 updated, 0 unchanged, 0 failed; 5 notes created" in (
        vex.output
    )
    findings = json.loads(cli("occurrences", "list", project, "--filter", 'kind="VULNERABILITY"').output)
    assert sorted(
        f["vulnerability"]["vexAssessment"]["state"] for f in findings if "vexAssessment" in f["vulnerability"]
    ) == [
        "AFFECTED",
        "NOT_AFFECTED",
        "NOT_AFFECTED",
    ]


def _vex_over_two_batches() -> bytes:
    """An OpenVEX document of 1,002 statements, so that the client sends its notes in two batches: one
    about snakeyaml in its package (the first, in time), one about the whole image (the last), and
    1,000 about vulnerabilities the image does not have in between."""
    product = {"@id": f"pkg:oci/api@sha256%3A{DIGEST}", "subcomponents": [{"@id": "pkg:maven/org.yaml/snakeyaml@1.33"}]}
    in_package = {
        "vulnerability": {"name": "CVE-2022-1471"},
        "products": [product],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "timestamp": "2024-12-01T00:00:00Z",
    }
    fillers = [
        {
            "vulnerability": {"name": f"CVE-2099-{10000 + i}"},
            "status": "not_affected",
            "justification": "component_not_present",
            "timestamp": "2024-12-02T00:00:00Z",
        }
        for i in range(1000)
    ]
    whole = {
        "vulnerability": {"name": "CVE-2022-1471"},
        "status": "affected",
        "action_statement": "Upgrade.",
        "timestamp": "2024-12-03T00:00:00Z",
    }
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://vex.example.com/two-batches",
        "author": "Payments Security",
        "timestamp": "2024-12-03T00:00:00Z",
        "version": 1,
        "statements": [in_package, *fillers, whole],
    }
    return json.dumps(doc).encode()


def test_a_vex_document_sent_in_batches_leaves_what_one_request_would(cli, http, project, tmp_path):
    """Where a statement about a package and one about the whole image fit a finding, the one about the
    package is copied, whatever their order (ingest/vex.py). The client sends a document's notes in
    batches of 1,000, and the server copies each batch's on its own: sent in plan order, the statement
    about the whole image, in the second batch, undid the first batch's about the package."""
    document = tmp_path / "two-batches.openvex.json"
    document.write_bytes(_vex_over_two_batches())
    states = {}
    for way, target in (("one request", f"{project}-http"), ("client", project)):
        scan = cli(
            "ingest", "trivy", FIXTURES / "trivy/alpine-app-image.json", "--project", target, "--resource", IMAGE
        )
        assert scan.exit_code == 0, scan.output
        if way == "client":
            vex = cli("ingest", "openvex", document, "--project", target, "--resource", IMAGE)
            assert vex.exit_code == 0 and "1002 notes created" in vex.output, vex.output
        else:
            url = f"/v1/projects/{target}/occurrences:ingest"
            answer = http.post(url, params={"format": "openvex", "resourceUri": IMAGE}, data=document.read_bytes())
            assert answer.status_code == 200, answer.text
        findings = json.loads(cli("occurrences", "list", target, "--filter", 'kind="VULNERABILITY"').output)
        states[way] = {
            f["noteName"].rsplit("/", 1)[1]: f["vulnerability"]["vexAssessment"]["state"]
            for f in findings
            if "vexAssessment" in f["vulnerability"]
        }
    assert states["client"] == states["one request"] and list(states["client"].values()) == ["NOT_AFFECTED"], states


def _server_answering(status: int):
    """A local HTTP server answering every request with `status`, as a failing or refusing server would."""
    body = json.dumps({"error": {"code": status, "message": "no, sorry", "status": "X"}}).encode()
    return front(lambda *_: (status, {"Content-Type": "application/json"}, body))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_ingest_exit_code_tells_an_unreachable_or_failing_server_from_a_refusal(project):
    ingest = ["ingest", "trivy", str(FIXTURES / "trivy/alpine-app-image.json"), "--project", project]
    ingest += ["--resource", IMAGE, "--url"]
    down = CliRunner().invoke(main, [*ingest, f"http://127.0.0.1:{_closed_port()}"])
    assert down.exit_code == 3 and "cannot reach" in down.output and " 0 created" in down.output, down.output
    with _server_answering(500) as url:
        failing = CliRunner().invoke(main, [*ingest, url])
    assert failing.exit_code == 3 and "500 no, sorry" in failing.output, failing.output
    with _server_answering(400) as url:
        refused = CliRunner().invoke(main, [*ingest, url])
    assert refused.exit_code == 1 and "400 no, sorry" in refused.output, refused.output


def test_ingest_exits_3_on_an_answer_that_is_not_an_ingest_result(project):
    """--url at some other JSON service answering 200: a KeyError traceback, exit 1 (read as a refusal)."""
    ingest = ["ingest", "trivy", FIXTURES / "trivy/alpine-app-image.json", "--project", project, "--resource", IMAGE]
    for answer in ({"ok": True}, {"created": "1", "updated": 0, "unchanged": 0, "notesCreated": 0}):
        body = json.dumps(answer).encode()
        with front(lambda *_, body=body: (200, {"Content-Type": "application/json"}, body)) as url:
            run = grafeas_py(url, *ingest)
        assert run.returncode == 3 and "Traceback" not in run.stderr, run.stderr
        assert "the server's answer is not an ingest result: is --url the Grafeas server?" in run.stderr
        assert " 0 created" in run.stdout and " failed" in run.stdout, run.stdout


def _forwarding(base_url, refuse):
    """A proxy in front of the test server that passes every request on, but answers the ingest batches
    `refuse(n)` gives (status, error status name) for itself, n counting batches from 1."""
    batches = []

    def reply(method, path, headers, body):
        if ":ingest" in path:
            batches.append(json.loads(body))
            refused = refuse(len(batches))
            if refused:
                code, status = refused
                error = {"code": code, "message": f"{status.lower()} by the test", "status": status, "details": []}
                return code, {"Content-Type": "application/json"}, json.dumps({"error": error}).encode()
        answer = requests.request(method, base_url + path, data=body, headers={"Content-Type": "application/json"})
        return answer.status_code, {"Content-Type": answer.headers["Content-Type"]}, answer.content

    return front(reply), batches


def test_ingest_sends_a_batch_again_that_lost_to_another_job(base_url, http, project):
    """Two jobs ingesting reports that share notes: the server answers one 409 ABORTED ("retry"), which
    counted the batch failed; such a batch is idempotent by key and is now sent again."""
    proxy, batches = _forwarding(base_url, lambda n: (409, "ABORTED") if n <= 2 else None)
    report = FIXTURES / "trivy/alpine-app-image.json"
    with proxy as url:
        run = CliRunner().invoke(
            main, ["ingest", "trivy", str(report), "--project", project, "--resource", IMAGE, "--url", url]
        )
    assert run.exit_code == 0 and " 0 failed" in run.output, run.output
    assert len(batches) == 3 and batches[0] == batches[2]
    stored = http.get(f"/v1/projects/{project}/occurrences", params={"pageSize": 1000}).json()["occurrences"]
    assert len(stored) == len(batches[0]["occurrences"]) and f"{len(stored)} created" in run.output
    with _forwarding(base_url, lambda n: (409, "ABORTED"))[0] as url:
        stuck = CliRunner().invoke(
            main, ["ingest", "trivy", str(report), "--project", project, "--resource", IMAGE, "--url", url]
        )
    assert stuck.exit_code == 1 and "409 aborted by the test" in stuck.output, stuck.output


def test_ingest_stops_at_a_refused_batch_so_no_scan_is_recorded_without_its_findings(base_url, http, project, tmp_path):
    """A report of more than 1000 findings goes in batches: when one was refused the next was sent all the
    same, with the scan's DISCOVERY, and the gate took the image as scanned with its findings missing."""
    from tests.fixtures.generate_trivy_report import write_report

    report = write_report(tmp_path / "trivy.json", 1500)
    proxy, batches = _forwarding(base_url, lambda n: (400, "INVALID_ARGUMENT") if n == 1 else None)
    with proxy as url:
        run = CliRunner().invoke(
            main, ["ingest", "trivy", str(report), "--project", project, "--resource", IMAGE, "--url", url]
        )
    assert run.exit_code == 1, run.output
    assert (
        "a batch of 1000 occurrences failed: 400 invalid_argument by the test; the other 501 were not sent"
        in run.output
    )
    assert "run the command again" not in run.output  # refused, it would be refused again
    assert "0 created, 0 updated, 0 unchanged, 1501 failed" in run.output
    assert len(batches) == 1 and http.get(f"/v1/projects/{project}/occurrences").json() == {}
    # The second run sends it all, the scan's DISCOVERY last.
    proxy, batches = _forwarding(base_url, lambda n: None)
    with proxy as url:
        again = CliRunner().invoke(
            main, ["ingest", "trivy", str(report), "--project", project, "--resource", IMAGE, "--url", url]
        )
    assert again.exit_code == 0 and "1501 created" in again.output, again.output
    assert [len(b["occurrences"]) for b in batches] == [1000, 501]
    assert "discovery" in batches[-1]["occurrences"][-1]["occurrence"]


def test_ingest_bounds_each_batch_by_bytes_too(base_url, http, project, tmp_path, monkeypatch):
    """1000 large findings made a batch the server refused as too large, as often as it was sent."""
    from grafeas_py import client_cli
    from tests.fixtures.generate_trivy_report import write_report

    monkeypatch.setattr(client_cli, "BATCH_BYTES", 300_000)
    report = write_report(tmp_path / "trivy.json", 1500)
    proxy, batches = _forwarding(base_url, lambda n: None)
    with proxy as url:
        run = CliRunner().invoke(
            main, ["ingest", "trivy", str(report), "--project", project, "--resource", IMAGE, "--url", url]
        )
    assert run.exit_code == 0 and "1501 created" in run.output, run.output
    sizes = [len(json.dumps(batch, ensure_ascii=False).encode()) for batch in batches]
    assert len(batches) > 2 and max(sizes) <= 300_000 + 1000, sizes  # 1000: the request's own wrapping
    assert sum(len(batch["occurrences"]) for batch in batches) == 1501
    assert "discovery" in batches[-1]["occurrences"][-1]["occurrence"]


def test_ingest_counts_the_findings_a_rescan_changed(cli, project, tmp_path):
    report = json.loads((FIXTURES / "trivy/alpine-app-image.json").read_bytes())
    first = cli("ingest", "trivy", "-", "--project", project, "--resource", IMAGE, input=json.dumps(report))
    assert first.exit_code == 0, first.output
    report["CreatedAt"] = "2024-12-10T09:00:00Z"
    report["Results"][0]["Vulnerabilities"][0]["Severity"] = "CRITICAL"
    rescan = cli("ingest", "trivy", "-", "--project", project, "--resource", IMAGE, input=json.dumps(report))
    assert rescan.exit_code == 0 and "1 created, 1 updated, " in rescan.output, rescan.output


def test_ingest_counts_one_note_in_the_singular(cli, project):
    """It said "1 notes created"."""
    report = json.loads((FIXTURES / "trivy/alpine-app-image.json").read_bytes())
    vulnerability = report["Results"][0]["Vulnerabilities"][0]
    report["Results"] = [{**report["Results"][0], "Vulnerabilities": [vulnerability]}]
    first = cli("ingest", "trivy", "-", "--project", project, "--resource", IMAGE, input=json.dumps(report))
    assert first.exit_code == 0 and first.output.rstrip().endswith("; 2 notes created"), first.output
    vulnerability["VulnerabilityID"] = "CVE-2099-0001"  # one new note; the scan's own note is there already
    one = cli("ingest", "trivy", "-", "--project", project, "--resource", IMAGE, input=json.dumps(report))
    assert one.exit_code == 0 and one.output.rstrip().endswith("; 1 note created"), one.output


def test_ingest_updates_os_package_findings_stored_under_their_earlier_keys(cli, http, project):
    """The batches carry each finding's earlier key: after an upgrade, a rescan duplicates nothing."""
    from grafeas_py.ingest import parse_report
    from tests.unit.ingest.support import NOW

    report = FIXTURES / "trivy/alpine-app-image.json"
    plan = parse_report(
        "trivy", report.read_bytes(), resource_uri=IMAGE, project=project, note_project=project, now=NOW
    )
    old = [{"key": o.legacy_key or o.key, "occurrence": o.body} for o in plan.occurrences]
    path = f"/v1/projects/{project}/occurrences:ingest"
    assert http.post(path, params={"format": "plan"}, json={"notes": plan.notes, "occurrences": old}).ok
    again = cli("ingest", "trivy", report, "--project", project, "--resource", IMAGE)
    assert again.exit_code == 0 and f"0 created, 0 updated, {len(old)} unchanged, 0 failed" in again.output


def test_ingest_names_the_test_suite_of_a_junit_report(cli, http, project, tmp_path):
    from tests.unit.ingest.support import envelope_statement, junit_report

    report = tmp_path / "junit.xml"
    report.write_bytes(junit_report("tests", {"checkout": True}))
    done = cli("ingest", "junit", report, "--project", project, "--resource", IMAGE, "--suite", "e2e")
    assert done.exit_code == 0, done.output
    [occurrence] = http.get(f"/v1/projects/{project}/occurrences").json()["occurrences"]
    statement = envelope_statement(occurrence["dsseAttestation"]["envelope"])
    assert statement["predicate"]["configuration"] == [{"name": "junit:e2e"}]
    for format_, suite, message in (("junit", "", "must not be empty"), ("trivy", "e2e", "only a junit report")):
        bad = cli("ingest", format_, report, "--project", project, "--resource", IMAGE, "--suite", suite)
        assert bad.exit_code == 2 and "--suite" in bad.output and message in bad.output, bad.output


def _key_file(tmp_path, key):
    path = tmp_path / "key.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    return path


@pytest.mark.parametrize("form", [(), ("--jwt",)], ids=["signed payload", "jwt"])
@pytest.mark.parametrize(
    "make_key, algorithm",
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ECDSA_P256_SHA256"),
        (ed25519.Ed25519PrivateKey.generate, "ED25519"),
    ],
)
def test_attest_sign_then_gate_check(cli, http, project, tmp_path, make_key, algorithm, form):
    key = make_key()
    note = f"projects/{project}/notes/qa"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    public = key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    keys = [{"id": default_key_id(public), "algorithm": algorithm, "publicKeyPem": pem}]
    policy = {
        "attestors": [{"name": "qa", "noteName": note, "publicKeys": keys}],
        "rules": {"attestations": {"attestors": ["qa"]}},
    }
    assert http.post(f"/v1/projects/{project}/policies", params={"policyId": "qa"}, json=policy).ok
    check = ("gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE, "-o", "table")

    denied = cli(*check)
    assert denied.exit_code == 1 and denied.output.startswith("DENY") and "qa" in denied.output
    signed = cli("attest", "sign", "--key", _key_file(tmp_path, key), "--resource", IMAGE, "--note", note, *form)
    assert signed.exit_code == 0, signed.output
    written = json.loads(signed.output)["attestation"]
    assert sorted(written) == (["jwts"] if form else ["serializedPayload", "signatures"])
    allowed = cli(*check)
    assert allowed.exit_code == 0 and allowed.output.startswith("ALLOW"), allowed.output
    unpinned = cli(
        "attest", "sign", "--key", _key_file(tmp_path, key), "--resource", "https://gcr.io/a/b:1", "--note", note, *form
    )
    assert unpinned.exit_code == 2 and "digest" in unpinned.output


PGP_SIGNER = Path(__file__).resolve().parent / "fixtures" / "pgp" / "signer.secret.asc"


def test_attest_sign_with_a_gnupg_key(cli, http, project, monkeypatch, tmp_path):
    """A password-protected Ed25519 key that GnuPG exported (`gpg --armor --export-secret-keys`, password
    "correct horse"): the attestation is what gcloud records, and the gate verifies it with the public half."""
    secret = Tsk.from_bytes(PGP_SIGNER.read_bytes())
    note = f"projects/{project}/notes/qa"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    keys = [{"asciiArmoredPgpPublicKey": str(secret.extract_certificate())}]
    policy = {
        "attestors": [{"name": "qa", "noteName": note, "publicKeys": keys}],
        "rules": {"attestations": {"attestors": ["qa"]}},
    }
    assert http.post(f"/v1/projects/{project}/policies", params={"policyId": "qa"}, json=policy).ok
    check = ("gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE)
    sign = ("attest", "sign", "--key", PGP_SIGNER, "--resource", IMAGE, "--note", note)

    broken = tmp_path / "broken.asc"
    broken.write_text("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n")
    unreadable = cli("attest", "sign", "--key", broken, "--resource", IMAGE, "--note", note)
    assert unreadable.exit_code == 2 and "cannot read the OpenPGP key: " in unreadable.output, unreadable.output
    assert "backtrace" not in unreadable.output.lower()
    locked = cli(*sign)
    assert locked.exit_code == 2 and "use --password-env" in locked.output, locked.output
    monkeypatch.setenv("WRONG_PASSWORD", "incorrect horse")
    wrong = cli(*sign, "--password-env", "WRONG_PASSWORD")
    assert wrong.exit_code == 2 and "cannot unlock the OpenPGP key" in wrong.output, wrong.output
    assert cli(*sign, "--jwt").exit_code == 2
    assert cli(*check).exit_code == 1

    monkeypatch.setenv("PGP_PASSWORD", "correct horse")
    signed = cli(*sign, "--password-env", "PGP_PASSWORD")
    assert signed.exit_code == 0, signed.output
    (signature,) = json.loads(signed.output)["attestation"]["signatures"]
    assert signature["publicKeyId"] == "222AF3C481BC5F229AF595BADB77F5CF6559FE7A"
    assert base64.b64decode(signature["signature"]).startswith(b"-----BEGIN PGP MESSAGE-----")
    allowed = cli(*check, "-o", "table")
    assert allowed.exit_code == 0 and allowed.output.startswith("ALLOW"), allowed.output


def test_gate_check_table_says_what_let_an_artifact_through(cli, http, project):
    """The table showed ALLOW and the violations, but not that a breakglass overrode them, nor an exemption or an
    allow pattern; a dryrun finding read as a warning."""
    rules = {"identity": {}, "scan": {"maxAge": "1h", "mode": "dryrun"}, "secrets": {}}
    policy = {
        "rules": rules,
        "exemptions": [{"artifact": "**", "rule": "secrets", "justification": "known test keys"}],
    }
    assert http.post(f"/v1/projects/{project}/policies", params={"policyId": "bg"}, json=policy).ok
    tagged = IMAGE.split("@")[0] + ":1.0"  # identity denies a tag
    check = ("gate", "check", "--project", project, "--policy", "bg", "-o", "table")
    overridden = cli(*check, "--resource", tagged, "--breakglass", "incident 42")
    assert overridden.exit_code == 0, overridden.output
    assert "  enforce TAG_NOT_DIGEST:" in overridden.output and "  breakglass: incident 42\n" in overridden.output
    assert "  dryrun  NOT_SCANNED:" in overridden.output
    secret_note = f"projects/{project}/notes/leak"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "leak"}, json={"secret": {}}).ok
    assert http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("SECRET", secret_note)).ok
    exempted = cli(*check, "--resource", IMAGE)
    assert exempted.exit_code == 0 and "  exempted " in exempted.output, exempted.output
    assert "known test keys" in exempted.output
    empty = cli(*check, "--resource", tagged, "--breakglass", "")
    assert empty.exit_code == 2 and "justification" in empty.output, empty.output  # refused, not dropped
    allow = {"rules": {"artifacts": {"allowPatterns": ["registry.example.com/**"]}}}
    assert http.post(f"/v1/projects/{project}/policies", params={"policyId": "ap"}, json=allow).ok
    allowed = cli("gate", "check", "--project", project, "--policy", "ap", "--resource", IMAGE, "-o", "table")
    assert allowed.exit_code == 0 and "  allowed by the pattern registry.example.com/**\n" in allowed.output, (
        allowed.output
    )


def test_gate_check_errors_exit_2(cli, project):
    missing = cli("gate", "check", "--project", project, "--policy", "nope", "--resource", IMAGE)
    assert missing.exit_code == 2 and "not found" in missing.output


@pytest.mark.parametrize(
    "answer",
    [
        {"ok": True},
        {"allowed": "false", "decision": "DENY", "policy": "projects/p/policies/qa", "policyRevision": 1},
        {"allowed": 1, "decision": "ALLOW", "policy": "projects/p/policies/qa", "policyRevision": 1},
        {"allowed": True, "decision": "DENY", "policy": "projects/p/policies/qa", "policyRevision": 1},
        {"allowed": False, "decision": "ALLOW", "policy": "projects/p/policies/qa", "policyRevision": 1},
        {"allowed": True, "decision": "MAYBE", "policy": "projects/p/policies/qa", "policyRevision": 1},
    ],
    ids=["not a decision", "allowed a string", "allowed a number", "allowed but DENY", "denied but ALLOW", "unknown"],
)
def test_gate_check_fails_closed_on_an_answer_that_is_not_a_decision(project, answer):
    """A 200 JSON answer that is no decision exited 1 (-o json) or crashed (-o table); `"allowed": "false"`
    with DENY exited 0, an allow."""
    body = json.dumps(answer).encode()
    check = ("gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE, "-o")
    with front(lambda *_: (200, {"Content-Type": "application/json"}, body)) as url:
        runs = [grafeas_py(url, *check, output) for output in ("json", "yaml", "table")]
    for run in runs:
        assert run.returncode == 2 and run.stdout == "", (run.stdout, run.stderr)
        assert run.stderr.startswith("error: the server's answer is not a decision"), run.stderr


def test_gate_check_escapes_what_reports_said_so_no_line_of_the_log_is_faked(project):
    """A finding quotes a package's name as a scanner reported it; printed raw, a name holding a newline
    wrote its own "ALLOW: ..." line (or a CI runner's ::workflow command) into the log."""
    evil = "evil\nALLOW: all good\x1b[2K\r"
    violation = {"rule": "vulnerabilities", "mode": "enforce", "code": "SEVERITY_EXCEEDED", "evidence": []}
    answer = {
        "allowed": False,
        "decision": "DENY",
        "policy": "projects/p/policies/qa\n::error::x",
        "policyRevision": 1,
        "violations": [{**violation, "message": f"found CVE-1 in {evil}"}],
        "warnings": [{**violation, "mode": "warn", "message": evil}],
    }
    body = json.dumps(answer).encode()
    check = ("gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE + "\n", "-o", "table")
    with front(lambda *_: (200, {"Content-Type": "application/json"}, body)) as url:
        run = grafeas_py(url, *check)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines == [
        f"DENY: {IMAGE}\\n under projects/p/policies/qa\\n::error::x rev 1",
        "  enforce SEVERITY_EXCEEDED: found CVE-1 in evil\\nALLOW: all good\\x1b[2K\\r",
        "  warning SEVERITY_EXCEEDED: evil\\nALLOW: all good\\x1b[2K\\r",
    ]
    with front(lambda *_: (404, {"Content-Type": "application/json"}, b'{"error": {"message": "no\\nALLOW"}}')) as url:
        refused = grafeas_py(url, *check)
    assert refused.returncode == 2 and refused.stderr.splitlines() == ["error: 404 no\\nALLOW"], refused.stderr


def test_gate_check_that_cannot_write_its_decision_exits_2(project):
    """A full disk was a traceback and exit 1, the code of a denial; it is an error, whatever was decided."""
    for outcome in ({"allowed": True, "decision": "ALLOW"}, {"allowed": False, "decision": "DENY"}):
        body = json.dumps({**outcome, "policy": "projects/p/policies/qa", "policyRevision": 1}).encode()
        with front(lambda *_, body=body: (200, {"Content-Type": "application/json"}, body)) as url:
            for output in ("json", "table"):
                command = [GRAFEAS_PY, "gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE]
                with open("/dev/full", "w") as full:
                    run = subprocess.run(
                        [*command, "-o", output], stdout=full, stderr=subprocess.PIPE, text=True, env=_env(url)
                    )
                assert run.returncode == 2, (outcome, output, run.stderr)
                assert run.stderr.startswith("error: could not write the decision: "), run.stderr
                assert "Traceback" not in run.stderr


def test_the_console_script_talks_to_the_server(base_url, project):
    result = subprocess.run(
        [GRAFEAS_PY, "occurrences", "list", project, "--url", base_url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def _creates(project, tmp_path):
    """Commands that write: a note, an occurrence, an attestation."""
    note = tmp_path / "note.json"
    note.write_text(json.dumps(NOTE_BODIES["ATTESTATION"]))
    occurrence = tmp_path / "occurrence.json"
    occurrence.write_text(json.dumps(occurrence_body("ATTESTATION", f"projects/{project}/notes/qa", IMAGE)))
    key = _key_file(tmp_path, ed25519.Ed25519PrivateKey.generate())
    return [
        ("notes", "create", f"projects/{project}/notes/qa", "-f", note),
        ("occurrences", "create", project, "-f", occurrence),
        ("attest", "sign", "--key", key, "--resource", IMAGE, "--note", f"projects/{project}/notes/qa"),
    ]


def test_a_redirect_is_not_followed(base_url, http, project, tmp_path):
    """An http->https redirect in front of the server: followed, requests would resend each POST as a GET."""
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    with front(lambda method, path, headers, body: (301, {"Location": base_url + path}, b"")) as url:
        runs = [grafeas_py(url, *command) for command in _creates(f"{project}-b", tmp_path)]
        listed = grafeas_py(url, "notes", "list", project)
    for run in [*runs, listed]:
        assert run.returncode == 3 and run.stdout == "", run.stdout
        assert (
            "301 Moved Permanently" in run.stderr
            and f"redirects are not followed: use --url {base_url}\n" in run.stderr
        )
    assert http.get(f"/v1/projects/{project}-b/notes").json() == {}
    assert http.get(f"/v1/projects/{project}-b/occurrences").json() == {}


def test_an_answer_that_is_not_json_is_not_success(project, tmp_path):
    """--url pointing at a web server that answers 200 with a page, not at the Grafeas server."""
    page = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>Welcome to nginx!</html>")
    with front(lambda *_: page) as url:
        runs = [grafeas_py(url, *command) for command in _creates(project, tmp_path)]
        runs.append(grafeas_py(url, "notes", "get", f"projects/{project}/notes/qa"))
        gate = grafeas_py(
            url, "gate", "check", "--project", project, "--policy", "qa", "--resource", IMAGE, "-o", "table"
        )
    message = "the server answered 200 with text/html, not a JSON object: is --url the Grafeas server?\n"
    for run in runs:
        assert run.returncode == 3 and run.stdout == "" and run.stderr == f"error: {message}", run.stdout
    assert gate.returncode == 2 and gate.stderr == f"error: {message}", gate.stderr


def test_an_error_page_that_is_not_the_apis_is_not_a_refusal(project):
    """A 404 page from another web server was printed raw and exited 1, as if the server had refused."""
    page = (404, {"Content-Type": "text/html"}, b"<!DOCTYPE HTML><html>File not found</html>")
    with front(lambda *_: page) as url:
        run = grafeas_py(url, "notes", "get", f"projects/{project}/notes/qa")
    message = "error: the server answered 404 with text/html, not an API error: is --url the Grafeas server?\n"
    assert (run.returncode, run.stderr) == (3, message), run.stderr


def test_a_retried_delete_that_had_deleted_is_done(base_url, http, project):
    """A proxy loses the answer to the first DELETE (502 after the server deleted): the retry finds nothing."""
    note, lost = f"projects/{project}/notes/qa", []
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    created = http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("ATTESTATION", note, IMAGE))
    occurrence = created.json()["name"]

    def lose_first_delete(method, path, headers, body):
        answer = requests.request(method, base_url + path, data=body, headers={"Content-Type": "application/json"})
        if method == "DELETE" and path not in lost:
            lost.append(path)
            return 502, {"Content-Type": "text/plain"}, b"upstream timed out"
        return answer.status_code, {"Content-Type": answer.headers["Content-Type"]}, answer.content

    with front(lose_first_delete) as url:
        deleted = [
            grafeas_py(url, what, "delete", name) for what, name in [("occurrences", occurrence), ("notes", note)]
        ]
        again = grafeas_py(url, "notes", "delete", note)
    assert [run.returncode for run in deleted] == [0, 0], deleted[0].stderr
    assert len(lost) == 2 and http.get(f"/v1/{note}").status_code == 404
    assert http.get(f"/v1/{occurrence}").status_code == 404
    # Not retried, a 404 is what it says: there was nothing to delete.
    assert again.returncode == 1 and "404" in again.stderr


def test_a_retried_delete_whose_first_attempt_never_left_does_not_count_a_404_as_done(cli, monkeypatch, project):
    """The first connection is refused (a server restarting): that attempt deleted nothing, so the retry's 404
    means there was nothing to delete, exit 1; it counted as done, exit 0."""
    from urllib3.connection import HTTPConnection
    from urllib3.exceptions import NewConnectionError

    connect, refused = HTTPConnection._new_conn, []

    def refuse_the_first(connection):
        if not refused:
            refused.append(connection)
            raise NewConnectionError(connection, "Failed to establish a new connection: [Errno 111] Connection refused")
        return connect(connection)

    monkeypatch.setattr(HTTPConnection, "_new_conn", refuse_the_first)
    run = cli("notes", "delete", f"projects/{project}/notes/missing")
    assert refused and run.exit_code == 1 and "404" in run.output, run.output


@pytest.mark.parametrize("retry_after", ["3600", "soon"])
def test_a_proxys_retry_after_is_waited_for_briefly(base_url, http, project, retry_after):
    """A proxy answers 503 with a Retry-After first: an hour was waited for in full, and one that cannot be
    read ended the command as if the server could not be reached; either way the retry now gets the note."""
    note = f"projects/{project}/notes/qa"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "qa"}, json=NOTE_BODIES["ATTESTATION"]).ok
    turned_away = []

    def busy_once(method, path, headers, body):
        if not turned_away:
            turned_away.append(path)
            return 503, {"Content-Type": "text/plain", "Retry-After": retry_after}, b"try again later"
        answer = requests.request(method, base_url + path, data=body)
        return answer.status_code, {"Content-Type": answer.headers["Content-Type"]}, answer.content

    with front(busy_once) as url:
        run = grafeas_py(url, "notes", "get", note)
    assert run.returncode == 0 and json.loads(run.stdout)["name"] == note, run.stderr
    assert len(turned_away) == 1


def test_a_file_that_cannot_be_read_is_a_usage_error(base_url, project, tmp_path):
    name = f"projects/{project}/notes/qa"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("build: {builderVersion: café}\n".encode("latin-1"))
    utf16 = tmp_path / "utf16.json"
    utf16.write_text(json.dumps(NOTE_BODIES["BUILD"]), encoding="utf-16")
    binary = tmp_path / "binary.yaml"
    binary.write_text("build: {builderVersion: !!binary aGk=}\n")
    # Nine levels of aliases to aliases in 400 bytes: 17 s and a MemoryError traceback.
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{(f'*{p}, ' * 9)[:-2]}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    )
    deep_json, deep_yaml = tmp_path / "deep.json", tmp_path / "deep.yaml"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)  # a RecursionError traceback
    deep_yaml.write_text("a:\n" + "".join(" " * i + "- \n" for i in range(1, 3000)))
    problems = {
        bomb: "aliases (*name) are not accepted",
        deep_json: "deep.json is not valid JSON or YAML: nested too deeply",
        deep_yaml: "deep.yaml is not valid YAML: nested too deeply",
        tmp_path / "missing.yaml": "missing.yaml: No such file or directory",
        tmp_path: "Is a directory",
        latin1: "latin1.yaml is not UTF-8 (at byte 27): save it as UTF-8",
        utf16: "utf16.json is not UTF-8 (at byte 0)",
        binary: "binary.yaml holds a value JSON has no form for",
    }
    for path, problem in problems.items():
        run = grafeas_py(base_url, "notes", "create", name, "-f", path)
        assert run.returncode == 2 and "Invalid value for --file" in run.stderr and problem in run.stderr, run.stderr
    key = _key_file(tmp_path, ed25519.Ed25519PrivateKey.generate())
    sign = ("attest", "sign", "--key", key, "--resource", IMAGE, "--note", name)
    unset = grafeas_py(base_url, *sign, "--password-env", "NO_SUCH_VARIABLE")
    assert unset.returncode == 2 and "the environment variable NO_SUCH_VARIABLE is not set" in unset.stderr


def test_a_value_that_cannot_be_its_type_is_a_usage_error(base_url, project, tmp_path):
    """`!!int abc` and an integer of 5000 digits ended in a traceback and exit 1, as if the server had refused."""
    files = {
        "int.yaml": ("build: {builderVersion: !!int abc}\n", "cannot read 'abc' as !!int"),
        "float.yaml": ("build: {builderVersion: !!float abc}\n", "cannot read 'abc' as !!float"),
        "bool.yaml": ("build: {builderVersion: !!bool maybe}\n", "cannot read 'maybe' as !!bool"),
        "empty.yaml": ('build: {builderVersion: !!int ""}\n', "cannot read '' as !!int"),
        "long.yaml": (f"build: {{builderVersion: {'1' * 5000}}}\n", "(5000 characters) as !!int"),
        "long.json": (f'{{"build": {{"builderVersion": {"1" * 5000}}}}}', "an integer of 5000 digits is too long"),
    }
    for name, (text, problem) in files.items():
        (tmp_path / name).write_text(text)
        run = grafeas_py(base_url, "notes", "create", f"projects/{project}/notes/qa", "-f", tmp_path / name)
        assert run.returncode == 2 and "Invalid value for --file" in run.stderr, (name, run.stderr)
        assert problem in run.stderr and "Traceback" not in run.stderr, (name, run.stderr)


def test_json_indented_with_tabs_and_yaml_with_dates(base_url, http, project, tmp_path):
    """`jq --tab` output is JSON that YAML refuses; a YAML date is sent as the text it is written as."""
    tabbed = tmp_path / "tabbed.json"
    tabbed.write_text(json.dumps(NOTE_BODIES["BUILD"], indent="\t"))
    dated = tmp_path / "dated.yaml"
    dated.write_text(
        "build: {builderVersion: v1}\nshortDescription: 2024-01-01\nexpirationTime: 2030-01-01T00:00:00Z\n"
    )
    for path, note_id in [(tabbed, "tabbed"), (dated, "dated")]:
        run = grafeas_py(base_url, "notes", "create", f"projects/{project}/notes/{note_id}", "-f", path)
        assert run.returncode == 0, run.stderr
    assert http.get(f"/v1/projects/{project}/notes/tabbed").json()["build"] == NOTE_BODIES["BUILD"]["build"]
    note = http.get(f"/v1/projects/{project}/notes/dated").json()
    assert (note["shortDescription"], note["expirationTime"]) == ("2024-01-01", "2030-01-01T00:00:00Z")


def test_a_token_read_from_a_file_keeps_no_newline(project):
    """A token read from a secret file ends with a newline: it is left out; other such characters are refused."""
    seen = []

    def server(method, path, headers, body):
        seen.append(headers["Authorization"])
        return 200, {"Content-Type": "application/json"}, b'{"notes": []}'

    with front(server) as url:
        read = grafeas_py(url, "notes", "list", project, env={"GRAFEAS_TOKEN": "s3cret-token\n"})
        broken = [
            grafeas_py(url, "notes", "list", project, "--token", token) for token in ["s3\ncret", "s3\x1bcret", "sé"]
        ]
    assert read.returncode == 0 and read.stdout == "[]\n", read.stderr
    for run in broken:
        assert run.returncode == 2 and "the token holds spaces, control or non-ASCII characters" in run.stderr
        assert "s3" not in run.stderr
    assert seen == ["Bearer s3cret-token"]


def test_a_url_read_from_a_file_keeps_no_newline(project):
    """GRAFEAS_URL from a secret file ends with a newline: it is left out, as a token's is. Whitespace inside,
    or a query or fragment that the API's paths would be appended to, is bad usage."""
    seen = []

    def server(method, path, headers, body):
        seen.append(path)
        return 200, {"Content-Type": "application/json"}, b'{"notes": []}'

    with front(server) as url:
        read = grafeas_py(url + "/\n", "notes", "list", project)
        broken = {
            f"{url}/#x": "has a query or a fragment",
            f"{url}/?a=b": "has a query or a fragment",
            url.replace("//", "// ", 1): "holds whitespace or control characters",
            f"{url}/a\tb": "holds whitespace or control characters",
        }
        runs = {bad: grafeas_py(bad, "notes", "list", project) for bad in broken}
    assert read.returncode == 0 and read.stdout == "[]\n", read.stderr
    assert seen == [f"/v1/projects/{project}/notes?filter=&pageSize=1000"]
    for bad, run in runs.items():
        assert run.returncode == 2 and "Invalid value for '--url'" in run.stderr, (bad, run.stderr)
        assert broken[bad] in run.stderr, (bad, run.stderr)


def test_messages_do_not_show_the_password_of_the_url(project):
    """`--url http://admin:s3cret@host`: the password went into every error message, and so into CI logs."""
    closed = f"http://admin:s3cret@127.0.0.1:{_closed_port()}"
    runs = [grafeas_py(closed, "notes", "list", project)]
    runs += [
        grafeas_py(url, "notes", "list", project)
        for url in ("ftp://admin:s3cret@127.0.0.1", "http://admin:s3cret@127.0.0.1:x", "http://admin:s3cret@h/#x")
    ]

    def moved(method, path, headers, body):
        return 301, {"Location": f"http://admin:s3cret@127.0.0.1:1/grafeas{path}"}, b""

    with front(moved) as url:
        runs.append(grafeas_py(url.replace("//", "//admin:s3cret@"), "notes", "list", project))
    assert [run.returncode for run in runs] == [3, 2, 2, 2, 3], [run.stderr for run in runs]
    for run in runs:
        assert "s3cret" not in run.stderr and "admin:***@" in run.stderr, run.stderr


def test_limit(base_url, http, project):
    for note_id in "abc":
        assert http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES["BUILD"]).ok
    listed = {limit: grafeas_py(base_url, "notes", "list", project, "--limit", limit) for limit in (0, 2, 3, 4)}
    assert {limit: len(json.loads(run.stdout)) for limit, run in listed.items()} == {0: 0, 2: 2, 3: 3, 4: 3}
    assert json.loads(grafeas_py(base_url, "occurrences", "list", project, "--limit", 0).stdout) == []
    negative = grafeas_py(base_url, "notes", "list", project, "--limit", -3)
    assert negative.returncode == 2 and "-3 is not in the range x>=0" in negative.stderr, negative.stderr


def test_a_table_keeps_a_row_on_one_line_and_aligns_wide_characters(base_url, http, project):
    notes = f"projects/{project}/notes/"
    # Ids may hold control characters (a resource URI may not): the last column shows them escaped.
    for note_id, uri in [("n", "https://gcr.io/プロジェクト/app"), ("a\tb", IMAGE), ("a\nb", IMAGE)]:
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": note_id}, json=NOTE_BODIES["BUILD"])
        assert r.ok, r.text
        assert http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("BUILD", notes + note_id, uri)).ok
    table = grafeas_py(base_url, "occurrences", "list", project, "-o", "table").stdout.splitlines()
    assert len(table) == 4 and sorted(line.rsplit("/", 1)[1] for line in table[1:]) == ["a\\nb", "a\\tb", "n"]
    # A terminal gives a wide character two columns: the last column starts in the same one on every line.
    prefixes = [line[: line.rfind(notes if i else "noteName")] for i, line in enumerate(table)]
    columns = {len(prefix) + sum(unicodedata.east_asian_width(c) == "W" for c in prefix) for prefix in prefixes}
    assert len(columns) == 1, table


def test_ctrl_c_exits_130(project):
    arrived, release = threading.Event(), threading.Event()

    def slow(method, path, headers, body):
        arrived.set()
        release.wait(30)
        return 200, {"Content-Type": "application/json"}, b"{}"

    with front(slow) as url:
        command = [GRAFEAS_PY, "notes", "list", project]
        # A shell starts background jobs with SIGINT ignored, and Python keeps it so: undo that for the
        # client, or a suite run with `&` sees Ctrl-C ignored.
        default_sigint = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
        process = subprocess.Popen(
            command, env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
        )
        assert arrived.wait(30)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        release.set()
    assert (process.returncode, out, err) == (130, "", "interrupted\n")


def test_a_closed_output_pipe_exits_141_quietly(base_url, project):
    """`grafeas-py ... | head -1`: head has gone before the output was written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        command = [GRAFEAS_PY, "notes", "list", project]
        closed = subprocess.run(command, env=_env(base_url), stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert (closed.returncode, closed.stderr) == (141, "")


@pytest.mark.parametrize("output", ["json", "yaml", "table"])
def test_a_pipe_closed_midway_exits_141_quietly(project, output):
    """`grafeas-py ... -o json | head -1` on a large answer: the reader goes after the first line. JSON and
    YAML went out in one write, which Python reported written in full: exit 0, the rest lost."""
    notes = [
        {"name": f"projects/{project}/notes/n{i}", "kind": "BUILD", "shortDescription": "x" * 80} for i in range(5000)
    ]
    body = json.dumps({"notes": notes}).encode()
    with front(lambda *_: (200, {"Content-Type": "application/json"}, body)) as url:
        command = [GRAFEAS_PY, "notes", "list", project, "-o", output]
        process = subprocess.Popen(command, env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = process.stdout.readline()
        process.stdout.close()  # as `head -1` does
        stderr = process.stderr.read()
        process.wait(timeout=60)
    assert first and (process.returncode, stderr) == (141, b""), (process.returncode, stderr)


def test_an_empty_project_or_policy_is_a_usage_error(base_url, tmp_path):
    note = tmp_path / "note.json"
    note.write_text(json.dumps(NOTE_BODIES["BUILD"]))
    key = _key_file(tmp_path, ed25519.Ed25519PrivateKey.generate())
    gate = ("gate", "check", "--resource", IMAGE)
    ingest = ("ingest", "trivy", FIXTURES / "trivy/alpine-app-image.json")
    commands = {
        ("notes", "list", ""): "expected a project id, got ''",
        ("occurrences", "list", "a/b"): "expected a project id, got 'a/b'",
        ("occurrences", "create", "", "-f", note): "expected a project id, got ''",
        # It blamed the report file, and exited 1 as for a refusal.
        ("ingest", "trivy", FIXTURES / "trivy/alpine-app-image.json", "--project", "", "--resource", IMAGE): (
            "expected a project id, got ''"
        ),
        # An empty one (a CI variable left unset) silently put the notes in --project.
        (*ingest, "--project", "p", "--note-project", "", "--resource", IMAGE): "expected a project id, got ''",
        (*ingest, "--project", "p", "--note-project", "a/b", "--resource", IMAGE): "expected a project id, got 'a/b'",
        # A CI variable left unset made it a random key, and a newline or non-ASCII one a traceback or exit 3.
        ("occurrences", "create", "p", "-f", note, "--idempotency-key", ""): "give a key of 1 to 255",
        ("occurrences", "create", "p", "-f", note, "--idempotency-key", "a\nb"): "give a key of 1 to 255",
        ("occurrences", "create", "p", "-f", note, "--idempotency-key", "ключ"): "give a key of 1 to 255",
        # The server refuses these (400), which the job took for its result's failure.
        ("occurrences", "create", "p", "-f", note, "--idempotency-key", "ci job 7"): "other than space",
        ("occurrences", "create", "p", "-f", note, "--idempotency-key", "k" * 256): "give a key of 1 to 255",
        # Read as a server that cannot be reached (exit 3), which a CI job retries.
        ("notes", "list", "p", "--url", "127.0.0.1:8080"): "expected http://HOST[:PORT] or https://..., got",
        ("notes", "list", "p", "--url", "ftp://127.0.0.1"): "expected http://HOST[:PORT]",
        ("notes", "list", "p", "--url", "http://[bad"): "is not a URL",
        (*gate, "--project", "", "--policy", "qa"): "expected a project id, got ''",
        (*gate, "--project", "p", "--policy", ""): "expected a policy id",
        (*gate, "--project", "p", "--policy", "projects//policies/qa"): "expected a policy id",
        ("attest", "sign", "--key", key, "--resource", IMAGE, "--note", "projects/p/notes/qa", "--project", ""): (
            "expected a project id, got ''"
        ),
    }
    for command, message in commands.items():
        run = grafeas_py(base_url, *command)
        assert run.returncode == 2 and message in run.stderr, (command, run.stderr)


def test_attest_sign_with_an_algorithm_the_key_cannot_sign_with(base_url, project, tmp_path):
    sign = ("attest", "sign", "--resource", IMAGE, "--note", f"projects/{project}/notes/qa", "--algorithm")
    keys = [
        (
            rsa.generate_private_key(65537, 2048),
            "a 2048-bit RSA key signs with RSA_SIGN_PKCS1_2048_SHA256, RSA_PSS_2048_SHA256",
        ),
        (ec.generate_private_key(ec.SECP384R1()), "an EC key on curve secp384r1 signs with ECDSA_P384_SHA384"),
    ]
    for key, signs_with in keys:
        path = _key_file(tmp_path, key)
        run = grafeas_py(base_url, *sign, "ED25519", "--key", path)
        assert run.returncode == 2 and run.stderr == f"error: cannot sign with ED25519: {signs_with}\n", run.stderr
    unknown = grafeas_py(base_url, *sign, "ECDSA_P384", "--key", path)
    assert unknown.returncode == 2 and f"unknown algorithm 'ECDSA_P384'; {signs_with}" in unknown.stderr


def test_timeout(project, tmp_path):
    note = tmp_path / "note.json"
    note.write_text(json.dumps(NOTE_BODIES["BUILD"]))
    release = threading.Event()

    def slow(method, path, headers, body):
        release.wait(30)
        return 200, {"Content-Type": "application/json"}, b"{}"

    with front(slow) as url:
        # A create is not retried, so this is one wait.
        run = grafeas_py(url, "notes", "create", f"projects/{project}/notes/n", "-f", note, "--timeout", "0.5")
        release.set()
    assert run.returncode == 3 and "Read timed out. (read timeout=0.5)" in run.stderr, run.stderr


def test_a_timeout_that_is_not_a_finite_number_of_seconds_is_a_usage_error(project):
    """inf, nan and 1e308 were taken, then crashed the request (OverflowError, ValueError) with exit 1."""
    with front(lambda *_: (200, {"Content-Type": "application/json"}, b'{"notes": []}')) as url:
        runs = [grafeas_py(url, "notes", "list", project, "--timeout", value) for value in ("inf", "nan", "1e308")]
        runs.append(grafeas_py(url, "notes", "list", project, env={"GRAFEAS_TIMEOUT": "inf"}))
        fine = grafeas_py(url, "notes", "list", project, "--timeout", "86400")
    for run in runs:
        assert run.returncode == 2 and "Invalid value for '--timeout'" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert fine.returncode == 0 and fine.stdout == "[]\n", fine.stderr


def test_json_and_yaml_keep_non_ascii_text_as_it_is(base_url, http, project):
    text = "脆弱性: naïve café"
    body = {**NOTE_BODIES["BUILD"], "shortDescription": text}
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=body).ok
    for output, load in [("json", json.loads), ("yaml", yaml.safe_load)]:
        run = grafeas_py(
            base_url, "notes", "get", f"projects/{project}/notes/n", "-o", output, env={"PYTHONIOENCODING": "utf-8"}
        )
        assert run.returncode == 0 and text in run.stdout and load(run.stdout)["shortDescription"] == text, run.stdout
