"""Every role against every operation, over real HTTP with real tokens: allowed means 200, denied 403.

Each case binds one role on a fresh project to a caller, lets the administrator set the project up,
then makes the one call. The table is written out in full, so that a change of what a role may do
shows up here as a deliberate edit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest

from tests.factories import IMAGE, NOTE_BODIES, occurrence_body

NOTES_VIEWER, NOTES_EDITOR, NOTES_ATTACHER = "notesViewer", "notesEditor", "notesAttacher"
NOTES_OCC_VIEWER, OCC_VIEWER, OCC_EDITOR = "notesOccurrencesViewer", "occurrencesViewer", "occurrencesEditor"
POLICY_ADMIN, GATE_EVALUATOR, AUDITOR, ADMIN = "policyAdmin", "gateEvaluator", "auditor", "projectAdmin"
ROLES = [
    NOTES_VIEWER,
    NOTES_EDITOR,
    NOTES_ATTACHER,
    NOTES_OCC_VIEWER,
    OCC_VIEWER,
    OCC_EDITOR,
    POLICY_ADMIN,
    GATE_EVALUATOR,
    AUDITOR,
    ADMIN,
]
NOBODY = "no role"  # authenticated, but bound to nothing

PROJECT_READERS = {NOTES_VIEWER, NOTES_EDITOR, OCC_VIEWER, OCC_EDITOR, POLICY_ADMIN, AUDITOR, ADMIN}
NOTE_READERS = {NOTES_VIEWER, NOTES_EDITOR, NOTES_ATTACHER, NOTES_OCC_VIEWER, AUDITOR, ADMIN}
OCCURRENCE_READERS = {OCC_VIEWER, OCC_EDITOR, AUDITOR, ADMIN}
POLICY_READERS = {POLICY_ADMIN, GATE_EVALUATOR, AUDITOR, ADMIN}
DECISION_READERS = {POLICY_ADMIN, GATE_EVALUATOR, AUDITOR, ADMIN}
KEY = "ab" * 32  # an ingestion idempotency key
DENIAL = re.compile(r"permission '[A-Za-z.]+' denied on resources? '[^']+'.* \(or (it|they) may not exist\)\Z")


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {p}: the project, {o}: an occurrence attached to its note n1, {d}: a decision of its policy pol
    allowed: frozenset[str]
    body: dict | None = None
    setup: str = "full"  # "empty": nothing; "project": the project only; "full": a note, occurrence, policy, decision


def op(name, method, path, allowed, body=None, setup="full") -> Op:
    return Op(name, method, path, frozenset(allowed), body, setup)


OPS = [
    # Projects
    op("CreateProject", "POST", "/v1/projects", {ADMIN}, {"name": "projects/{p}"}, setup="empty"),
    op("GetProject", "GET", "/v1/projects/{p}", PROJECT_READERS | {GATE_EVALUATOR}, setup="project"),
    op("DeleteProject", "DELETE", "/v1/projects/{p}", {ADMIN}, setup="project"),
    # The 13 Grafeas RPCs, and Container Analysis's summary
    op("CreateNote", "POST", "/v1/projects/{p}/notes?noteId=new", {NOTES_EDITOR, ADMIN}, NOTE_BODIES["BUILD"]),
    op(
        "BatchCreateNotes",
        "POST",
        "/v1/projects/{p}/notes:batchCreate",
        {NOTES_EDITOR, ADMIN},
        {"notes": {"b1": NOTE_BODIES["BUILD"]}},
    ),
    op("GetNote", "GET", "/v1/projects/{p}/notes/n1", NOTE_READERS),
    op("ListNotes", "GET", "/v1/projects/{p}/notes", {NOTES_VIEWER, NOTES_EDITOR, AUDITOR, ADMIN}),
    op("UpdateNote", "PATCH", "/v1/projects/{p}/notes/n1", {NOTES_EDITOR, ADMIN}, {"shortDescription": "x"}),
    op("DeleteNote", "DELETE", "/v1/projects/{p}/notes/n1", {NOTES_EDITOR, ADMIN}),
    op("ListNoteOccurrences", "GET", "/v1/projects/{p}/notes/n1/occurrences", {NOTES_OCC_VIEWER, AUDITOR, ADMIN}),
    # Writing an occurrence also needs notes.attachOccurrence on its note's project: editors alone may not.
    op(
        "CreateOccurrence",
        "POST",
        "/v1/projects/{p}/occurrences",
        {ADMIN},
        occurrence_body("BUILD", "projects/{p}/notes/n1"),
    ),
    op(
        "BatchCreateOccurrences",
        "POST",
        "/v1/projects/{p}/occurrences:batchCreate",
        {ADMIN},
        {"occurrences": [occurrence_body("BUILD", "projects/{p}/notes/n1")]},
    ),
    op("GetOccurrence", "GET", "/v1/projects/{p}/occurrences/{o}", OCCURRENCE_READERS),
    op("ListOccurrences", "GET", "/v1/projects/{p}/occurrences", OCCURRENCE_READERS),
    op("UpdateOccurrence", "PATCH", "/v1/projects/{p}/occurrences/{o}", {ADMIN}, {"remediation": "upgrade"}),
    op("DeleteOccurrence", "DELETE", "/v1/projects/{p}/occurrences/{o}", {ADMIN}),
    op("GetOccurrenceNote", "GET", "/v1/projects/{p}/occurrences/{o}/notes", OCCURRENCE_READERS),
    op("VulnerabilitySummary", "GET", "/v1/projects/{p}/occurrences:vulnerabilitySummary", OCCURRENCE_READERS),
    # History
    op("NoteHistory", "GET", "/v1/projects/{p}/notes/n1:history", {AUDITOR, ADMIN}),
    op("OccurrenceHistory", "GET", "/v1/projects/{p}/occurrences/{o}:history", {AUDITOR, ADMIN}),
    op("ArtifactHistory", "GET", f"/v1/projects/{{p}}/artifacts:history?resourceUri={IMAGE}", {AUDITOR, ADMIN}),
    op("LocationNoteHistory", "GET", "/v1/projects/{p}/locations/eu/notes/n1:history", {AUDITOR, ADMIN}),
    # Administration: bindings per project; tokens are server-wide, so they need admin.tokens on `*`
    op("ListBindings", "GET", "/v1/admin/bindings?project={p}", {ADMIN}),
    op(
        "CreateBinding",
        "POST",
        "/v1/admin/bindings",
        {ADMIN},
        {"project": "{p}", "role": NOTES_VIEWER, "member": "user:new"},
    ),
    op("DeleteBinding", "DELETE", f"/v1/admin/bindings?project={{p}}&role={NOTES_VIEWER}&member=user:old", {ADMIN}),
    # The deploy gate
    op("CreatePolicy", "POST", "/v1/projects/{p}/policies?policyId=new", {POLICY_ADMIN, ADMIN}, {"rules": {}}),
    op("GetPolicy", "GET", "/v1/projects/{p}/policies/pol", POLICY_READERS),
    op("ListPolicies", "GET", "/v1/projects/{p}/policies", {POLICY_ADMIN, AUDITOR, ADMIN}),
    op("UpdatePolicy", "PATCH", "/v1/projects/{p}/policies/pol", {POLICY_ADMIN, ADMIN}, {"rules": {}}),
    op("DeletePolicy", "DELETE", "/v1/projects/{p}/policies/pol", {POLICY_ADMIN, ADMIN}),
    op("ListPolicyRevisions", "GET", "/v1/projects/{p}/policies/pol/revisions", POLICY_READERS),
    op("GetPolicyRevision", "GET", "/v1/projects/{p}/policies/pol/revisions/1", POLICY_READERS),
    # Evaluating records a decision, so the read-only auditor may not.
    op(
        "Evaluate",
        "POST",
        "/v1/projects/{p}/policies/pol:evaluate",
        {POLICY_ADMIN, GATE_EVALUATOR, ADMIN},
        {"resourceUri": IMAGE},
    ),
    op("ListDecisions", "GET", "/v1/projects/{p}/decisions", {POLICY_ADMIN, AUDITOR, ADMIN}),
    op("GetDecision", "GET", "/v1/projects/{p}/decisions/{d}", DECISION_READERS),
    # Ingestion writes occurrences, so it needs what CreateOccurrence needs.
    op(
        "Ingest",
        "POST",
        "/v1/projects/{p}/occurrences:ingest?format=plan",
        {ADMIN},
        {"occurrences": [{"key": KEY, "occurrence": occurrence_body("BUILD", "projects/{p}/notes/n1")}]},
    ),
    op("ListTokens", "GET", "/v1/admin/tokens", set()),
    op("CreateToken", "POST", "/v1/admin/tokens", set(), {"name": "minted-by-{p}"}),
    op("RevokeTokens", "DELETE", "/v1/admin/tokens/admin", set()),
]


@pytest.fixture(scope="module")
def callers(secure):
    """Role -> (member name, token): one API token per role, plus one bound to nothing."""
    names = {role: f"role-{role.replace(' ', '-')}-{uuid.uuid4().hex[:6]}" for role in [*ROLES, NOBODY]}
    return {role: (f"token:{name}", secure.token(name)) for role, name in names.items()}


def _fill(value, names: dict[str, str]):
    if isinstance(value, str):
        for placeholder, name in names.items():
            value = value.replace(placeholder, name)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def _prepare(secure, project: str, setup: str) -> dict[str, str]:
    """The administrator makes what the operation acts on; the placeholders' values."""
    admin = secure.admin
    names = {"{p}": project}
    if setup == "empty":
        return names
    assert admin.post("/v1/projects", json={"name": f"projects/{project}"}).status_code == 200
    if setup == "project":
        return names
    base = f"/v1/projects/{project}"
    assert admin.post(f"{base}/notes", params={"noteId": "n1"}, json=NOTE_BODIES["BUILD"]).status_code == 200
    r = admin.post(f"{base}/occurrences", json=occurrence_body("BUILD", f"projects/{project}/notes/n1"))
    assert r.status_code == 200, r.text
    names["{o}"] = r.json()["name"].rsplit("/", 1)[1]
    assert admin.post(f"{base}/policies", params={"policyId": "pol"}, json={"rules": {}}).status_code == 200
    r = admin.post(f"{base}/policies/pol:evaluate", json={"resourceUri": IMAGE})
    assert r.status_code == 200, r.text
    names["{d}"] = r.json()["name"].rsplit("/", 1)[1]
    secure.bind(project, NOTES_VIEWER, "user:old")
    return names


@pytest.mark.parametrize("role", [*ROLES, NOBODY])
@pytest.mark.parametrize("operation", OPS, ids=lambda o: o.name)
def test_role_against_operation(secure, callers, project, role, operation):
    member, token = callers[role]
    if role != NOBODY:
        secure.bind(project, role, member)
    names = _prepare(secure, project, operation.setup)
    path, body = _fill(operation.path, names), _fill(operation.body, names)
    r = secure.client(token).request(operation.method, path, json=body)
    if role in operation.allowed:
        assert r.status_code == 200, f"{role} should be allowed {operation.name}: {r.text}"
    else:
        assert r.status_code == 403, f"{role} should be denied {operation.name}: {r.status_code} {r.text}"
        error = r.json()["error"]
        assert (error["code"], error["status"], error["details"]) == (403, "PERMISSION_DENIED", [])
        assert DENIAL.match(error["message"]), error["message"]


@pytest.mark.parametrize("role", [*ROLES, NOBODY])
def test_list_projects_shows_only_projects_the_role_may_list(secure, callers, project, role):
    member, token = callers[role]
    if role != NOBODY:
        secure.bind(project, role, member)
    _prepare(secure, project, "project")
    hidden = f"hidden-{project}"
    assert secure.admin.post("/v1/projects", json={"name": f"projects/{hidden}"}).status_code == 200
    r = secure.client(token).get("/v1/projects", params={"pageSize": 1000})
    assert r.status_code == 200, r.text
    names = {p["name"] for p in r.json().get("projects", [])}
    assert (f"projects/{project}" in names) == (role in PROJECT_READERS)
    assert f"projects/{hidden}" not in names
    everything = {p["name"] for p in secure.admin.get("/v1/projects", params={"pageSize": 1000}).json()["projects"]}
    assert {f"projects/{project}", f"projects/{hidden}"} <= everything
    # A filter narrows what the caller may list; it never widens it.
    both = {"filter": f'has_suffix(name, "{project}")', "pageSize": 1000}
    r = secure.client(token).get("/v1/projects", params=both)
    assert {p["name"] for p in r.json().get("projects", [])} == (
        {f"projects/{project}"} if role in PROJECT_READERS else set()
    )
    listed = {p["name"] for p in secure.admin.get("/v1/projects", params=both).json()["projects"]}
    assert listed == {f"projects/{project}", f"projects/{hidden}"}


@pytest.mark.parametrize(
    "member, says",
    [
        ("user:" + "m" * 1020, "at most 1024 characters"),  # it could be neither listed nor named to delete
        ("user:a\nuser:b", "control or invisible characters"),  # it printed as two lines in listings
        ("token:\u200badmin", "control or invisible characters"),  # looks like token:admin
        ("*", "not a wildcard member"),
    ],
    ids=["long", "newline", "zero-width", "star"],
)
def test_members_that_could_not_be_named_again_are_refused(secure, project, member, says):
    body = {"project": project, "role": "auditor", "member": member}
    r = secure.admin.post("/v1/admin/bindings", json=body)
    assert r.status_code == 400 and says in r.json()["error"]["message"], r.text
    listed = secure.admin.get("/v1/admin/bindings", params={"project": project}).json()
    assert not listed.get("bindings")


def test_tokens_are_managed_with_admin_tokens_on_every_project(secure):
    r = secure.admin.post("/v1/admin/tokens", json={"name": "managed"})
    assert r.status_code == 200 and r.json()["token"].startswith("gfp_")
    listed = secure.admin.get("/v1/admin/tokens").json()["tokens"]
    assert any(t["tokenId"] == r.json()["tokenId"] for t in listed)
    assert all("token" not in t and "secret" not in str(t) for t in listed)
    revoked = secure.admin.delete("/v1/admin/tokens/managed")
    assert revoked.status_code == 200 and revoked.json()["tokens"][0]["revokeTime"]


def test_a_revocation_that_finds_nothing_says_why(secure, project):
    # It said "no unrevoked token X of 'name'" whether X did not exist, was another name's, or was revoked.
    mine, other = f"mine-{project}", f"other-{project}"
    made = secure.admin.post("/v1/admin/tokens", json={"name": mine}).json()["tokenId"]
    theirs = secure.admin.post("/v1/admin/tokens", json={"name": other}).json()["tokenId"]

    def refusal(name, **params):
        r = secure.admin.delete(f"/v1/admin/tokens/{name}", params=params)
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND", r.text
        return r.json()["error"]["message"]

    assert refusal(f"nobody-{project}") == f"no token is named 'nobody-{project}'"
    assert refusal(mine, tokenId="0" * 16) == "no token has the id '0000000000000000'"
    assert refusal(mine, tokenId=theirs) == f"token {theirs} is named '{other}', not '{mine}'"
    assert secure.admin.delete(f"/v1/admin/tokens/{mine}", params={"tokenId": made}).status_code == 200
    assert refusal(mine, tokenId=made) == f"token {made} of '{mine}' is already revoked"
    assert refusal(mine) == f"every token named '{mine}' is already revoked"
    assert secure.admin.delete(f"/v1/admin/tokens/{other}").status_code == 200  # theirs was left alone


def test_the_audit_trail_is_for_auditors_of_every_project(secure, project):
    name = f"auditor-{project}"
    token, member = secure.token(name), f"token:{name}"
    secure.bind(project, "auditor", member)
    r = secure.client(token).get("/v1/admin/auditEntries")
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    secure.bind("*", "auditor", member)
    secure.app.extensions["grafeas"].storage.seal_audit(wait=10)  # the entries of the bindings just made
    r = secure.client(token).get("/v1/admin/auditEntries", params={"pageSize": 5})
    assert r.status_code == 200 and len(r.json()["auditEntries"]) == 5
    assert secure.client().get("/v1/admin/auditEntries").status_code == 401
