"""Authentication at the HTTP edge, over real HTTP: who gets in, and the 401 everyone else gets."""

from __future__ import annotations

import logging
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from grafeas_py import create_app
from grafeas_py.admin import Admin
from grafeas_py.auth.audit import verify_chain
from grafeas_py.auth.authz import Binding
from grafeas_py.auth.context import acting_as
from grafeas_py.auth.mtls import MtlsSettings
from grafeas_py.auth.principal import Principal
from grafeas_py.auth.settings import AuthSettings
from grafeas_py.config import Settings
from grafeas_py.storage import SqlStorage
from grafeas_py.storage.engine import make_engine
from tests.auth.conftest import signed_jwt
from tests.conftest import fresh_database_url, serve
from tests.factories import NOTE_BODIES, occurrence_body


def assert_error(r, status: int, grpc_status: str, fragment: str = "") -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert (error["code"], error["status"], error["details"]) == (status, grpc_status, [])
    assert fragment in error["message"], error["message"]
    return error


def test_without_credentials_every_api_route_is_401_in_the_error_shape(secure, project):
    anonymous = secure.client()
    for method, path in [
        ("GET", f"/v1/projects/{project}/notes"),
        ("POST", f"/v1/projects/{project}/occurrences"),
        ("GET", "/v1/projects"),
        ("GET", f"/v1/projects/{project}/occurrences/x:history"),
        ("GET", "/v1/admin/tokens"),
        ("GET", "/v1/nowhere"),  # no route is revealed before the caller is known
    ]:
        r = anonymous.request(method, path)
        assert_error(r, 401, "UNAUTHENTICATED", "authentication required")
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="grafeas-py"'


def test_probes_and_docs_need_no_credentials(secure):
    anonymous = secure.client()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/docs/openapi.json").status_code == 200
    assert anonymous.get("/docs/").status_code == 200


def test_a_bad_credential_is_401_saying_what_is_wrong(secure, project):
    cases = [
        ("gfp_0123456789abcdef_" + "A" * 43, "API token gfp_0123456789abcdef is not valid"),
        ("gfp_short", "malformed API token"),
        ("not-a-token-at-all", "the Authorization header holds no credential accepted here"),
    ]
    for credential, message in cases:
        r = secure.client(credential).get(f"/v1/projects/{project}/notes")
        assert_error(r, 401, "UNAUTHENTICATED", message)
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="grafeas-py", error="invalid_token"'
    r = requests.get(f"{secure.base}/v1/projects/{project}/notes", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_error(r, 401, "UNAUTHENTICATED", "no credential accepted here")


def test_401_and_403_are_told_apart(secure, project):
    stranger = secure.client(secure.token())  # authenticated, bound to nothing
    r = stranger.get(f"/v1/projects/{project}/notes/n1")
    error = assert_error(r, 403, "PERMISSION_DENIED")
    assert error["message"] == (
        f"permission 'notes.get' denied on resource 'projects/{project}/notes/n1' (or it may not exist)"
    )
    assert "WWW-Authenticate" not in r.headers
    assert_error(secure.client().get(f"/v1/projects/{project}/notes/n1"), 401, "UNAUTHENTICATED")


def test_a_denial_does_not_reveal_whether_the_resource_exists(secure, project):
    secure.admin.post(f"/v1/projects/{project}/notes", params={"noteId": "real"}, json=NOTE_BODIES["BUILD"])
    stranger = secure.client(secure.token())
    existing = stranger.get(f"/v1/projects/{project}/notes/real")
    missing = stranger.get(f"/v1/projects/{project}/notes/imaginary")
    assert existing.status_code == missing.status_code == 403
    assert existing.json()["error"]["message"].replace("real", "X") == missing.json()["error"]["message"].replace(
        "imaginary", "X"
    )


def test_a_revoked_token_is_refused_on_its_next_request(secure, project):
    token = secure.token("short-lived")
    secure.bind(project, "notesViewer", "token:short-lived")
    caller = secure.client(token)
    assert caller.get(f"/v1/projects/{project}/notes").status_code == 200
    token_id = token.split("_")[1]
    r = secure.admin.delete("/v1/admin/tokens/short-lived", params={"tokenId": token_id})
    assert r.status_code == 200 and r.json()["tokens"][0]["revokeTime"]
    assert_error(caller.get(f"/v1/projects/{project}/notes"), 401, "UNAUTHENTICATED", f"gfp_{token_id} was revoked")


def test_an_expired_token_is_refused(secure, project):
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    r = secure.admin.post("/v1/admin/tokens", json={"name": "expiring", "expireTime": soon})
    assert r.status_code == 200 and r.json()["expireTime"] == soon
    caller = secure.client(r.json()["token"])
    secure.bind(project, "notesViewer", "token:expiring")
    assert caller.get(f"/v1/projects/{project}/notes").status_code == 200
    time.sleep(2.5)
    assert_error(caller.get(f"/v1/projects/{project}/notes"), 401, "UNAUTHENTICATED", "expired")


# ---- OIDC: real JWTs signed with the key of the JWKS file ---------------------------------------


def test_an_oidc_job_acts_as_its_subject(secure, project):
    secure.bind(project, "occurrencesViewer", "ci:repo:octo/app:ref:refs/heads/main")
    job = secure.client(secure.jwt("repo:octo/app:ref:refs/heads/main"))
    assert job.get(f"/v1/projects/{project}/occurrences").status_code == 200
    r = job.get(f"/v1/projects/{project}/notes")
    assert_error(r, 403, "PERMISSION_DENIED", "permission 'notes.list' denied")


def test_an_oidc_job_holds_its_groups_bindings(secure, project):
    secure.bind(project, "notesEditor", "group:ci:octo-org")
    member = secure.client(secure.jwt("repo:octo-org/other", owners=["octo-org"]))
    outsider = secure.client(secure.jwt("repo:evil/fork", owners=["evil"]))
    body = NOTE_BODIES["BUILD"]
    assert member.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=body).status_code == 200
    r = outsider.post(f"/v1/projects/{project}/notes", params={"noteId": "m"}, json=body)
    assert_error(r, 403, "PERMISSION_DENIED", "notes.create")


@pytest.mark.parametrize(
    "claims, message",
    [
        ({"aud": "another-service"}, "JWT audience is not accepted"),
        ({"exp": int(time.time()) - 3600}, "JWT has expired"),
        ({"iss": "https://evil.example.com"}, "JWT issuer 'https://evil.example.com' is not accepted"),
    ],
)
def test_a_bad_jwt_is_401(secure, project, claims, message):
    r = secure.client(secure.jwt("repo:octo/app", **claims)).get(f"/v1/projects/{project}/notes")
    assert_error(r, 401, "UNAUTHENTICATED", message)


def test_a_principal_too_long_for_the_audit_trail_is_401_and_sealing_goes_on(secure, project):
    """A 5 KB `sub`, bound through a group, wrote its change and then stopped PostgreSQL's sealing for
    everyone: the audit index holds 2704 bytes a row."""
    secure.bind(project, "notesEditor", "group:ci:big")
    notes = f"/v1/projects/{project}/notes"
    for sub, status in (("é" * 511, 401), ("é" * 510 + "a", 200)):  # 1025 and 1024 bytes with "ci:"
        r = secure.client(secure.jwt(sub, owners=["big"])).post(
            notes, params={"noteId": f"n{status}"}, json=NOTE_BODIES["BUILD"]
        )
        assert r.status_code == status, r.text
    assert_error(
        secure.client(secure.jwt("x" * 5000, owners=["big"])).get(notes),
        401,
        "UNAUTHENTICATED",
        "the credential names a principal of 5003 bytes; at most 1024 can be recorded in the audit trail",
    )
    storage = secure.app.extensions["grafeas"].storage
    storage.seal_audit(wait=60)  # the server's own sealer may have sealed them already
    assert storage.pending_audit_entries() == 0
    assert verify_chain(storage.audit_entries()).ok


def test_a_jwt_signed_by_another_key_is_401(secure, project):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = secure.client(signed_jwt(other, "repo:octo/app")).get(f"/v1/projects/{project}/notes")
    assert_error(r, 401, "UNAUTHENTICATED", "JWT signature does not verify")


# ---- open mode ----------------------------------------------------------------------------------


def test_open_mode_warns_loudly_at_start_up(caplog):
    with caplog.at_level(logging.WARNING, logger="grafeas_py"):
        create_app(Settings(database_url="sqlite://"))
    assert "AUTHENTICATION IS OFF (GRAFEAS_AUTH=none)" in caplog.text


# ---- mTLS: a workload's SPIFFE ID, from the TLS-terminating proxy's header ----------------------


def test_a_workload_behind_a_trusted_proxy_acts_as_its_spiffe_id(tmp_path, worker_id, project):
    url = fresh_database_url(tmp_path, f"mtls_{worker_id}")
    workload = "spiffe://example.org/ns/ci/sa/builder"
    storage = SqlStorage(make_engine(url))
    with acting_as(Principal("cli:operator", "user")):
        Admin(storage).bind(Binding(project, "notesViewer", workload))
    storage.dispose()
    mtls = MtlsSettings(trusted_proxies=("127.0.0.1",))
    app = create_app(Settings(database_url=url, auth=AuthSettings(methods=("mtls",), mtls=mtls)))
    with serve(app) as base:
        xfcc = {"X-Forwarded-Client-Cert": f"By=spiffe://example.org/ns/envoy;URI={workload}"}
        assert requests.get(f"{base}/v1/projects/{project}/notes", headers=xfcc).status_code == 200
        r = requests.get(f"{base}/v1/projects/other-{project}/notes", headers=xfcc)
        assert_error(r, 403, "PERMISSION_DENIED", f"'projects/other-{project}'")
        r = requests.get(f"{base}/v1/projects/{project}/notes")  # the proxy saw no client certificate
        assert_error(r, 401, "UNAUTHENTICATED", "send a client certificate")
    app.extensions["grafeas"].storage.dispose()


# ---- what the audit trail records of how a caller signed in -------------------------------------


def test_audit_entries_name_the_credential_each_change_was_made_with(secure, project):
    # A principal outlives its tokens (`token:ci` across rotations); after one leaks, auditors ask
    # what that one token did, so each entry names the credential as well as the principal.
    name, sub = f"rotated-{project}", f"job-{project}"
    old, new = secure.token(name), secure.token(name)
    for member in (f"token:{name}", f"ci:{sub}"):
        secure.bind(project, "notesEditor", member)
        secure.bind(project, "occurrencesEditor", member)
    notes = f"/v1/projects/{project}/notes"
    callers = {
        "old": secure.client(old),
        "new": secure.client(new),
        "jti": secure.client(secure.jwt(sub, jti="run-42-attempt-1")),
        "no-jti": secure.client(secure.jwt(sub)),
        "bad-jti": secure.client(secure.jwt(sub, jti="x\ny")),  # not one a trail should hold: left out
    }
    for label, caller in callers.items():
        r = caller.post(notes, params={"noteId": label}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
    # the single-statement create on PostgreSQL records its entry itself
    occurrence = occurrence_body("BUILD", f"projects/{project}/notes/old")
    created = callers["old"].post(f"/v1/projects/{project}/occurrences", json=occurrence)
    assert created.status_code == 200, created.text
    secure.app.extensions["grafeas"].storage.seal_audit(wait=10)
    params = {"filter": f'has_prefix(resource, "projects/{project}/")', "pageSize": 100}
    entries = secure.admin.get("/v1/admin/auditEntries", params=params).json()["auditEntries"]
    by_resource = {e["resource"].rsplit("/", 1)[1]: (e["principal"], e["credential"]) for e in entries}
    old_id, new_id = old.split("_")[1], new.split("_")[1]
    assert by_resource == {
        "old": (f"token:{name}", f"token:{old_id}"),
        "new": (f"token:{name}", f"token:{new_id}"),
        "jti": (f"ci:{sub}", "oidc:run-42-attempt-1"),
        "no-jti": (f"ci:{sub}", "oidc"),
        "bad-jti": (f"ci:{sub}", "oidc"),
        created.json()["name"].rsplit("/", 1)[1]: (f"token:{name}", f"token:{old_id}"),
    }
    assert verify_chain(secure.app.extensions["grafeas"].storage.audit_entries()).ok
