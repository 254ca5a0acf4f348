"""The deploy gate, its Kubernetes webhook and ingestion behind authentication and role bindings."""

from __future__ import annotations

import uuid

import pytest
import requests

from grafeas_py import create_app
from tests.api.test_admission import POD, review
from tests.auth.conftest import secure_settings
from tests.conftest import serve
from tests.factories import IMAGE, NOTE_BODIES, occurrence_body
from tests.unit.gate.builders import DIGEST


def grant(secure, project: str, *roles: str, on: dict[str, tuple[str, ...]] | None = None) -> tuple[str, str]:
    """A new token holding `roles` on `project` (and `on`: roles on other projects): (token, principal id)."""
    name = f"c-{uuid.uuid4().hex[:10]}"
    token = secure.token(name)
    for where, held in {project: roles, **(on or {})}.items():
        for role in held:
            secure.bind(where, role, f"token:{name}")
    return token, f"token:{name}"


def caller(secure, project: str, *roles: str, on: dict[str, tuple[str, ...]] | None = None):
    """A session for a new token holding `roles`, and its principal id."""
    token, principal = grant(secure, project, *roles, on=on)
    return secure.client(token), principal


def test_a_policy_may_only_read_projects_its_author_may_list(secure, project):
    tenant = f"reads-{uuid.uuid4().hex[:8]}"
    body = {"rules": {}, "occurrenceProjects": [tenant]}
    author, _ = caller(secure, project, "policyAdmin")
    r = author.post(f"/v1/projects/{project}/policies", params={"policyId": "wide"}, json=body)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        f"permission 'occurrences.list' denied on resource 'projects/{tenant}' (or it may not exist)"
    )
    reader, _ = caller(secure, project, "policyAdmin", on={tenant: ("occurrencesViewer",)})
    assert reader.post(f"/v1/projects/{project}/policies", params={"policyId": "wide"}, json=body).ok
    r = author.patch(f"/v1/projects/{project}/policies/wide", json=body)  # the first author still may not
    assert r.status_code == 403 and "occurrences.list" in r.text


def test_a_compliance_rule_names_only_notes_its_author_may_read(secure, project):
    """Each evaluation warns where a listed note is missing or of another kind: a policy author probed whether
    any project's note existed, and what it was."""
    vendor = f"cis-{uuid.uuid4().hex[:8]}"
    r = secure.admin.post(f"/v1/projects/{vendor}/notes", params={"noteId": "cve"}, json=NOTE_BODIES["VULNERABILITY"])
    assert r.status_code == 200, r.text
    author, _ = caller(secure, project, "policyAdmin")
    for note in (f"projects/{vendor}/notes/cve", f"projects/{vendor}/notes/nothere"):
        body = {"rules": {"compliance": {"noteNames": [note]}}}
        r = author.post(f"/v1/projects/{project}/policies", params={"policyId": "probe"}, json=body)
        assert r.status_code == 403, r.text  # the same for a note that exists and one that does not
        assert (
            r.json()["error"]["message"] == f"permission 'notes.get' denied on resource '{note}' (or it may not exist)"
        )
    own = {"rules": {"compliance": {"noteNames": [f"projects/{project}/notes/own"]}}}
    assert author.post(f"/v1/projects/{project}/policies", params={"policyId": "own"}, json=own).ok
    r = author.put(f"/v1/projects/{project}/policies/own", json=body)
    assert r.status_code == 403 and "notes.get" in r.text
    reader, _ = caller(secure, project, "policyAdmin", on={vendor: ("notesViewer",)})
    assert reader.post(f"/v1/projects/{project}/policies", params={"policyId": "cis"}, json=body).ok


def test_a_gate_evaluator_asks_for_decisions_and_they_are_audited_as_its_own(secure, project):
    assert secure.admin.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json={"rules": {}}).ok
    ci, principal = caller(secure, project, "gateEvaluator")
    decision = ci.post(f"/v1/projects/{project}/policies/prod:evaluate", json={"resourceUri": IMAGE})
    assert decision.status_code == 200 and decision.json()["decision"] == "ALLOW"
    assert ci.get(f"/v1/{decision.json()['name']}").json() == decision.json()
    assert ci.get(f"/v1/projects/{project}/decisions").status_code == 403  # its own by name, not the list
    assert ci.post(f"/v1/projects/{project}/policies", params={"policyId": "x"}, json={"rules": {}}).status_code == 403
    storage = secure.app.extensions["grafeas"].storage
    storage.seal_audit(wait=10)
    (entry,) = [e for e in storage.audit_entries() if e.resource == decision.json()["name"]]
    assert (entry.action, entry.principal, entry.detail["decision"]) == ("decisions.create", principal, "ALLOW")


@pytest.fixture
def webhook(secure, jwks_path, tmp_path, project):
    """The admission webhook, on a server requiring credentials, judging namespace prod by a policy."""
    config = tmp_path / "admission.yaml"
    config.write_text(
        f"namespaces:\n  prod: projects/{project}/policies/prod\n  payments: projects/{project}-payments/policies/pci\n"
    )
    assert secure.admin.post(f"/v1/projects/{project}/policies", params={"policyId": "prod"}, json={"rules": {}}).ok
    app = create_app(secure_settings(secure.database_url, jwks_path, admission_config=str(config)))
    with serve(app) as base:
        yield base
    app.extensions["grafeas"].storage.dispose()


def test_the_admission_webhook_needs_a_caller_allowed_to_evaluate(secure, webhook, project):
    pod = review({**POD, "spec": {"containers": [{"name": "app", "image": f"gcr.io/acme/app@sha256:{DIGEST}"}]}})
    anonymous = requests.post(f"{webhook}/v1/admission:review", json=pod)
    assert anonymous.status_code == 401  # the API server's failurePolicy then decides: Fail denies
    token, _ = grant(secure, project, "gateEvaluator")  # the API server's identity, from its kubeconfig
    headers = {"Authorization": f"Bearer {token}"}
    allowed = requests.post(f"{webhook}/v1/admission:review", json=pod, headers=headers).json()["response"]
    assert allowed["allowed"] is True, allowed
    # Another team's namespace: denied without naming the policy that gates it.
    elsewhere = review({**pod["request"]["object"], "metadata": {"name": "web"}}, namespace="payments")
    denied = requests.post(f"{webhook}/v1/admission:review", json=elsewhere, headers=headers).json()["response"]
    assert denied["allowed"] is False and denied["status"]["message"] == (
        "grafeas-py denied Pod payments/web: this caller may not evaluate the policy of its namespace"
    ), denied
    stranger = {"Authorization": f"Bearer {secure.token()}"}
    for namespace in ("prod", "kube-system", "elsewhere"):
        sent = review(
            {**pod["request"]["object"], "metadata": {"name": "web", "namespace": namespace}}, namespace=namespace
        )
        denied = requests.post(f"{webhook}/v1/admission:review", json=sent, headers=stranger).json()["response"]
        # Fails closed, naming no policy and no exempt namespace: those told any token holder the config.
        assert denied["allowed"] is False and denied["status"]["message"] == (
            "grafeas-py answers only callers that may evaluate a configured gate policy; denied"
        ), denied


def test_ingestion_needs_what_creating_occurrences_needs(secure, project):
    provider = f"prov-{uuid.uuid4().hex[:8]}"
    assert secure.admin.post(f"/v1/projects/{provider}/notes", params={"noteId": "b"}, json=NOTE_BODIES["BUILD"]).ok
    plan = {"occurrences": [{"key": "cd" * 32, "occurrence": occurrence_body("BUILD", f"projects/{provider}/notes/b")}]}
    path = f"/v1/projects/{project}/occurrences:ingest"
    editor, _ = caller(secure, project, "occurrencesEditor")
    r = editor.post(path, params={"format": "plan"}, json=plan)
    assert r.status_code == 403 and "notes.attachOccurrence" in r.text
    ci, _ = caller(secure, project, "occurrencesEditor", on={provider: ("notesAttacher",)})
    r = ci.post(path, params={"format": "plan"}, json=plan)
    assert r.status_code == 200 and r.json()["created"] == 1
    assert ci.post(path, params={"format": "plan"}, json=plan).json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "notesCreated": 0,
    }


def test_ingestion_refuses_a_caller_who_may_not_create_before_reading_the_report(secure, project):
    """A malformed report was parsed (up to the body limit) and answered with its faults before the
    caller's rights were checked: any token holder could make the server parse 32 MB in any project."""
    viewer, _ = caller(secure, project, "occurrencesViewer")
    path = f"/v1/projects/{project}/occurrences:ingest"
    params = {"format": "trivy", "resourceUri": "https://gcr.io/acme/app@sha256:" + "a" * 64}
    r = viewer.post(path, params=params, data=b'{"Results": [')
    assert r.status_code == 403 and "occurrences.create" in r.text, r.text


def test_an_evaluator_must_be_able_to_list_the_other_projects_a_policy_reads(secure, project):
    """The answer shows what was read there: a policy reading another project kept reading it, for any
    evaluator, after its author lost access (found by the access audit)."""
    tenant = f"reads-{uuid.uuid4().hex[:8]}"
    body = {"rules": {}, "occurrenceProjects": [tenant]}
    assert secure.admin.post(f"/v1/projects/{project}/policies", params={"policyId": "wide"}, json=body).ok
    path = f"/v1/projects/{project}/policies/wide:evaluate"
    gate, _ = caller(secure, project, "gateEvaluator")
    r = gate.post(path, json={"resourceUri": IMAGE})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["message"] == (
        f"permission 'occurrences.list' denied on resource 'projects/{tenant}' (or it may not exist)"
    )
    reader, _ = caller(secure, project, "gateEvaluator", on={tenant: ("occurrencesViewer",)})
    assert reader.post(path, json={"resourceUri": IMAGE}).json()["decision"] == "ALLOW"


def test_a_stored_decision_withholds_what_it_read_in_a_project_the_reader_may_not_list(secure, project):
    """The same answer the evaluation refused such a caller, read back by name, in the list and in the
    artifact's timeline: the findings resting on the other project's occurrences are withheld."""
    tenant = f"reads-{uuid.uuid4().hex[:8]}"
    admin = secure.admin
    cve = f"projects/{tenant}/notes/CVE-1"
    note = admin.post(f"/v1/projects/{tenant}/notes", params={"noteId": "CVE-1"}, json=NOTE_BODIES["VULNERABILITY"])
    assert note.ok, note.text
    finding = admin.post(f"/v1/projects/{tenant}/occurrences", json=occurrence_body("VULNERABILITY", cve, IMAGE))
    assert finding.ok, finding.text
    body = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "LOW"}}, "occurrenceProjects": [tenant]}
    assert admin.post(f"/v1/projects/{project}/policies", params={"policyId": "wide"}, json=body).ok
    full = admin.post(f"/v1/projects/{project}/policies/wide:evaluate", json={"resourceUri": IMAGE}).json()
    assert full["decision"] == "DENY" and full["usedOccurrences"] == [finding.json()["name"]], full
    [violation] = full["violations"]
    assert "CVE-1" in violation["message"]

    auditor, _ = caller(secure, project, "auditor")
    shown = auditor.get(f"/v1/{full['name']}").json()
    assert (shown["decision"], shown["usedOccurrences"]) == ("DENY", [])
    assert shown["violations"] == [
        {
            **violation,
            "message": f"withheld: this finding rests on occurrences in projects/{tenant}, which the caller may "
            "not list",
            "evidence": [],
        }
    ]
    [listed] = auditor.get(f"/v1/projects/{project}/decisions").json()["decisions"]
    assert listed == shown
    timeline = auditor.get(f"/v1/projects/{project}/artifacts:history", params={"resourceUri": IMAGE}).json()
    assert [event["decision"] for event in timeline["events"]] == [shown]

    reader, _ = caller(secure, project, "auditor", on={tenant: ("occurrencesViewer",)})
    assert reader.get(f"/v1/{full['name']}").json() == full


def test_a_vex_document_is_copied_onto_findings_only_by_who_may_update_them(secure, project):
    """Ingesting VEX updates the findings it assesses: it needs what an UpdateOccurrence of them needs,
    notes.attachOccurrence on their notes' project, or nothing is written, not even its notes."""
    from tests.api.test_ingest import two_snakeyamls
    from tests.unit.ingest.support import FIXTURES, IMAGE

    provider = f"vulnz-{uuid.uuid4().hex[:8]}"
    path = f"/v1/projects/{project}/occurrences:ingest"
    scan = {"format": "trivy", "resourceUri": IMAGE, "noteProject": provider}
    assert secure.admin.post(path, params=scan, data=two_snakeyamls()).json()["created"] == 3
    vex = {"format": "cyclonedx", "resourceUri": IMAGE}
    sbom = (FIXTURES / "cyclonedx/payments-api-1.6.cdx.json").read_bytes()
    ci, _ = caller(secure, project, "occurrencesEditor", "notesEditor")
    r = ci.post(path, params=vex, data=sbom)
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        f"permission 'notes.attachOccurrence' denied on resource 'projects/{provider}/notes/CVE-2022-1471' "
        "(or it may not exist)"
    )
    assert secure.admin.get(f"/v1/projects/{project}/notes").json() == {}
    ci, _ = caller(secure, project, "occurrencesEditor", "notesEditor", on={provider: ("notesAttacher",)})
    assert ci.post(path, params=vex, data=sbom).json()["updated"] == 1
