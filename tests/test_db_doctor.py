"""`grafeas-py db doctor`: rows written as releases at 0001-0010 wrote them, which this release cannot serve
or serves differently, are found through the real command, and nothing in the database changes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from grafeas_py import create_app, db
from grafeas_py.config import Settings
from grafeas_py.gate.service import Gate
from grafeas_py.storage.engine import make_engine
from grafeas_py.storage.tables import metadata
from tests.conftest import POSTGRES_URL, _postgres_schema_url, fresh_database_url
from tests.test_cli import GRAFEAS_PY

T0 = 1_764_000_000_000_000  # microseconds: when the old rows were written
LONG = "x" * 300  # over the 255 characters ids may have now
IMAGE = "https://gcr.io/acme/app@sha256:" + "ab" * 32


def doctor(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAFEAS_DATABASE_URL": url}
    return subprocess.run([GRAFEAS_PY, "db", "doctor", *args], env=env, capture_output=True, text=True, timeout=120)


def snapshot(url: str) -> dict:
    """Every row of every table, to show that the doctor changed nothing."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = [t.name for t in metadata.sorted_tables] + ["alembic_version"]
            return {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in tables}
    finally:
        engine.dispose()


def nested(levels: int) -> str:
    """JSON text of `levels` objects one inside the other (too deep for json.dumps to write)."""
    return '{"a": ' * levels + '"x"' + "}" * levels


def occurrence_text(project: str, occurrence_id: str, parameters: str) -> str:
    """A BUILD occurrence as stored, whose SLSA provenance has `parameters` (JSON text) as externalParameters;
    the document is 5 levels deeper than `parameters`."""
    document = {
        "name": f"projects/{project}/occurrences/{occurrence_id}",
        "resourceUri": IMAGE,
        "noteName": "projects/vendor/notes/builder",
        "kind": "BUILD",
        "build": {"inTotoSlsaProvenanceV1": {"predicate": {"buildDefinition": {"externalParameters": "@"}}}},
        "createTime": "2025-11-24T16:00:00Z",
        "updateTime": "2025-11-24T16:00:00Z",
    }
    return json.dumps(document).replace('"@"', parameters)


def _public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


TWO_KEY_ATTESTOR = {
    "name": "qa",
    "noteName": "projects/gate/notes/qa",
    "publicKeys": [{"id": "k", "algorithm": "ECDSA_P256_SHA256", "publicKeyPem": _public_pem() + _public_pem()}],
}


def policy_document(project: str, policy_id: str, **more) -> str:
    return json.dumps(
        {
            "name": f"projects/{project}/policies/{policy_id}",
            "rules": {"vulnerabilities": {"maximumFixableSeverity": "HIGH"}},
            "createTime": "2025-11-24T16:00:00Z",
            "updateTime": "2025-11-24T16:00:00Z",
            "revision": 1,
            **more,
        }
    )


@pytest.fixture
def database(tmp_path, worker_id):
    return fresh_database_url(tmp_path, f"doctor_{worker_id}")


def _write(url: str, statements: list[tuple[str, dict]]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement, params in statements:
                conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _policy(project: str, policy_id: str, create_time: int = T0, **more) -> list[tuple[str, dict]]:
    """A policy and its first revision, as the gate stored them from 0004 on."""
    params = {"p": project, "i": policy_id, "t": create_time, "d": policy_document(project, policy_id, **more)}
    return [
        ("INSERT INTO policies (project_id, policy_id, revision, create_time, update_time, data)"
         " VALUES (:p, :i, 1, :t, :t, :d)", params),
        ("INSERT INTO policy_revisions (project_id, policy_id, revision, create_time, deleted, data)"
         " VALUES (:p, :i, 1, :t, false, :d)", params),
    ]  # fmt: skip


def _deleted_project(project: str, created: int, deleted: int) -> list[tuple[str, dict]]:
    """What DeleteProject left in history from 0005 on: the project's last revision and a tombstone."""
    insert = (
        "INSERT INTO history (project_id, resource_type, resource_id, revision, deleted, update_time, data)"
        " VALUES (:p, 'project', :p, :r, :deleted, :t, :d)"
    )
    return [
        (
            insert,
            {"p": project, "r": 1, "deleted": False, "t": created, "d": json.dumps({"name": f"projects/{project}"})},
        ),
        (insert, {"p": project, "r": 2, "deleted": True, "t": deleted, "d": None}),
    ]


def _occurrence(project: str, occurrence_id: str, parameters: str) -> tuple[str, dict]:
    return (
        "INSERT INTO occurrences (project_id, occurrence_id, note_project_id, note_id, kind, resource_uri, revision,"
        " create_time, update_time, data) VALUES (:p, :i, 'vendor', 'builder', 'BUILD', :u, 1, :t, :t, :d)",
        {
            "p": project,
            "i": occurrence_id,
            "u": IMAGE,
            "t": T0,
            "d": occurrence_text(project, occurrence_id, parameters),
        },
    )


def _odd_occurrence(project: str, occurrence_id: str, uri: str) -> tuple[str, dict]:
    """A BUILD occurrence stored under `uri`, in its document and its column alike."""
    statement, params = _occurrence(project, occurrence_id, '"x"')
    document = json.loads(params["d"]) | {"resourceUri": uri}
    return statement, {**params, "u": uri, "d": json.dumps(document)}


def _old_rows() -> list[tuple[str, dict]]:
    """One row of each kind the doctor reports, written as the release that allowed it wrote it."""
    project_row = "INSERT INTO projects (project_id, create_time) VALUES (:p, :t)"
    note_row = (
        "INSERT INTO notes (project_id, note_id, kind, revision, create_time, update_time, data)"
        " VALUES (:p, :i, 'BUILD', 1, :t, :t, :d)"
    )
    note = {"kind": "BUILD", "build": {"builderVersion": "1"}}
    deep_decision = {"name": "projects/gate/decisions/d", "decision": "DENY", "violations": [{"evidence": "@"}]}
    return [
        # 1. occurrenceProjects '*', accepted at 0004-0008
        *_policy("gate", "everything", occurrenceProjects=["scanner", "*"]),
        # ... and a key of two PEM blocks, accepted until 0014's release (the first key alone was used)
        *_policy("gate", "two-keys", rules={"attestations": {"attestors": ["qa"]}}, attestors=[TWO_KEY_ATTESTOR]),
        # ... and denyLicenses entries and versions that could match nothing, accepted until the gate refused them
        *_policy("gate", "licence-glob", rules={"packages": {"denyLicenses": ["AGPL-*"]}}),
        *_policy("gate", "version-range", rules={"packages": {"denyPackages": [{"name": "x", "versions": ["<9.0"]}]}}),
        # 2. ids over 255 characters: a project, a note, an occurrence in a long project, a policy (which
        # blocks DeleteProject of its project), a decision in a long project, and a note id '.' (0001)
        (project_row, {"p": LONG, "t": T0}),
        (
            note_row,
            {"p": "vendor", "i": LONG, "t": T0, "d": json.dumps({"name": f"projects/vendor/notes/{LONG}", **note})},
        ),
        (note_row, {"p": "vendor", "i": ".", "t": T0, "d": json.dumps({"name": "projects/vendor/notes/.", **note})}),
        _occurrence(LONG, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", '"shallow"'),
        (project_row, {"p": "blocked", "t": T0}),
        *_policy("blocked", LONG),
        (
            "INSERT INTO decisions (project_id, decision_id, policy_id, policy_revision, resource_uri, decision,"
            " evaluate_time, data) VALUES (:p, 'd-long', 'prod', 1, :u, 'ALLOW', :t, :d)",
            {"p": LONG, "u": IMAGE, "t": T0, "d": json.dumps({"decision": "ALLOW"})},
        ),
        # ... and a role binding on a long project id (0005-0008), which the server cannot load
        (
            "INSERT INTO role_bindings (project, role, member, create_time)"
            " VALUES (:p, 'occurrencesViewer', 'token:ci', :t)",
            {"p": LONG, "t": T0},
        ),
        # 3. policies older than their project's deletion: one project still gone, one created again
        *_policy("gone", "prod"),
        *_deleted_project("gone", T0 - 10, T0 + 10),
        *_policy("again", "prod"),
        *_deleted_project("again", T0 - 10, T0 + 10),
        ("INSERT INTO projects (project_id, create_time, revision) VALUES ('again', :t, 3)", {"t": T0 + 20}),
        # 4. a project named '*', and a note written to it before writes refused it
        (project_row, {"p": "*", "t": T0}),
        (note_row, {"p": "*", "i": "n", "t": T0, "d": json.dumps({"name": "projects/*/notes/n", **note})}),
        # 5. a free-form field 40 levels deep, a document whose list pages fail (253 levels) and one only
        # an artifact timeline fails on (251); a decision and an older revision as deep
        _occurrence("deep", "occ-40", nested(40)),
        _occurrence("deep", "occ-253", nested(248)),
        _occurrence("deep", "occ-251", nested(246)),
        # 6. an occurrence under a resource URI with a newline, which no gate read finds
        _odd_occurrence("odd", "occ-newline", IMAGE + "\n"),
        (
            "INSERT INTO decisions (project_id, decision_id, policy_id, policy_revision, resource_uri, decision,"
            " evaluate_time, data) VALUES ('gate', 'd-deep', 'prod', 1, :u, 'DENY', :t, :d)",
            {"u": IMAGE, "t": T0, "d": json.dumps(deep_decision).replace('"@"', nested(250))},
        ),
        (
            "INSERT INTO history (project_id, resource_type, resource_id, revision, deleted, update_time,"
            " resource_uri, data) VALUES ('deep', 'occurrence', 'occ-old', 1, false, :t, :u, :d)",
            {"t": T0, "u": IMAGE, "d": occurrence_text("deep", "occ-old", nested(248))},
        ),
    ]


def _expected() -> list[tuple[str, str]]:
    return [
        ("policy-occurrence-projects", "projects/gate/policies/everything"),
        ("policy-refused", "projects/gate/policies/two-keys"),
        ("policy-refused", "projects/gate/policies/licence-glob"),
        ("policy-refused", "projects/gate/policies/version-range"),
        ("unaddressable-id", f"projects/{LONG}"),
        ("unaddressable-id", f"projects/vendor/notes/{LONG}"),
        ("unaddressable-id", "projects/vendor/notes/."),
        ("unaddressable-id", f"projects/{LONG}/occurrences/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
        ("unaddressable-id", f"projects/blocked/policies/{LONG}"),
        ("unaddressable-id", f"projects/{LONG}/decisions/d-long"),
        ("unloadable-binding", f"binding of occurrencesViewer on {LONG[:60]}... (300 characters) to token:ci"),
        ("policy-outlived-project", "projects/gone/policies/prod"),
        ("policy-outlived-project", "projects/again/policies/prod"),
        ("project-named-star", "projects/*"),
        ("project-named-star", "projects/*"),
        ("nested-past-limit", "projects/deep/occurrences/occ-40"),
        ("document-too-deep", "projects/deep/occurrences/occ-253"),
        ("document-too-deep", "projects/deep/occurrences/occ-251"),
        ("document-too-deep", "projects/gate/decisions/d-deep"),
        ("document-too-deep", "projects/deep/occurrences/occ-old revision 1"),
        ("resource-uri-unreadable", "projects/odd/occurrences/occ-newline"),
    ]


def test_a_clean_database_has_no_findings(database):
    """Rows this release writes, including those at its limits, are no findings."""
    app = create_app(Settings(database_url=database, audit_seal_seconds=0))
    client = app.test_client()
    try:
        assert client.post("/v1/projects", json={"name": "projects/gone"}).status_code == 200
        assert client.delete("/v1/projects/gone").status_code == 200
        policy = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "HIGH"}}, "occurrenceProjects": ["scanner"]}
        # made after its project's deletion: it is the new owners' own
        assert client.post("/v1/projects/gone/policies?policyId=prod", json=policy).status_code == 200
        # ... and so is one made after it by another instance whose clock is behind
        assert client.post("/v1/projects", json={"name": "projects/skewed"}).status_code == 200
        assert client.delete("/v1/projects/skewed").status_code == 200
        behind = Gate(
            app.extensions["grafeas"].storage, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        )
        created = behind.create_policy("skewed", "prod", policy)
        assert created["createTime"] > (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=4)).isoformat()
        r = client.post("/v1/projects/vendor/notes?noteId=builder", json={"build": {"builderVersion": "1"}})
        assert r.status_code == 200, r.json
        at_limit = json.loads(occurrence_text("deep", "x", nested(31)))  # the field itself is the 32nd level
        body = {k: at_limit[k] for k in ("resourceUri", "noteName", "build")}
        assert client.post(f"/v1/projects/{'n' * 255}/occurrences", json=body).status_code == 200
    finally:
        app.extensions["grafeas"].storage.dispose()
    before = snapshot(database)

    result = doctor(database)
    assert (result.returncode, result.stdout.strip()) == (0, "no findings: this release serves every row as stored")
    as_json = doctor(database, "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == {"findings": []}
    assert snapshot(database) == before


def test_rows_old_releases_wrote_are_found_and_left_as_they_are(database):
    _write(database, _old_rows())
    before = snapshot(database)

    result = doctor(database, "--json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert sorted((f["check"], f["resource"]) for f in findings) == sorted(_expected())
    for finding in findings:
        assert set(finding) == {"check", "resource", "problem", "remedy", "table", "pk"}
        assert finding["problem"] and finding["remedy"] and isinstance(finding["pk"], int)
    by_resource = {f["resource"]: f for f in findings}
    assert "'*'" in by_resource["projects/gate/policies/everything"]["problem"]
    assert "'scanner'" not in by_resource["projects/gate/policies/everything"]["problem"]
    assert "DeleteProject" in by_resource[f"projects/blocked/policies/{LONG}"]["problem"]
    assert "does not exist now" in by_resource["projects/gone/policies/prod"]["problem"]
    assert "created again" in by_resource["projects/again/policies/prod"]["problem"]
    assert "list pages" in by_resource["projects/deep/occurrences/occ-253"]["problem"]
    only_timeline = by_resource["projects/deep/occurrences/occ-251"]["problem"]
    assert "the artifact timeline pages that hold it" in only_timeline and "list pages" not in only_timeline
    assert by_resource["projects/*"]["table"] == "projects"

    text_result = doctor(database)
    assert text_result.returncode == 1
    assert text_result.stdout.strip().endswith(f"{len(_expected())} findings")
    for _check, resource in _expected():
        assert resource in text_result.stdout
    assert snapshot(database) == before


def test_the_findings_are_what_this_release_does_with_those_rows(database):
    """Each kind of finding is true of the server: if one stops being so, the doctor must change with it."""
    _write(database, _old_rows())
    assert doctor(database).returncode == 1  # before the app writes anything of its own
    app = create_app(Settings(database_url=database, audit_seal_seconds=0))
    client = app.test_client()
    try:
        r = client.post("/v1/projects/gate/policies/everything:evaluate", json={"resourceUri": IMAGE})
        assert r.status_code == 400 and "'*' is not a wildcard" in r.json["error"]["message"]
        r = client.post("/v1/projects/gate/policies/two-keys:evaluate", json={"resourceUri": IMAGE})
        assert r.status_code == 400 and "holds 2 PEM blocks" in r.json["error"]["message"]
        r = client.post("/v1/projects/gate/policies/licence-glob:evaluate", json={"resourceUri": IMAGE})
        assert r.status_code == 400 and "denyLicenses takes no globs" in r.json["error"]["message"]
        r = client.post("/v1/projects/gate/policies/version-range:evaluate", json={"resourceUri": IMAGE})
        assert r.status_code == 400 and "looks like a version range" in r.json["error"]["message"]
        assert client.get(f"/v1/projects/vendor/notes/{LONG}").status_code == 400
        assert client.delete(f"/v1/projects/blocked/policies/{LONG}").status_code == 400
        r = client.delete("/v1/projects/blocked")
        assert r.status_code == 400 and "still has policies" in r.json["error"]["message"]
        assert client.get("/v1/projects/gone/policies/prod").status_code == 200
        assert client.post("/v1/projects", json={"name": "projects/*"}).status_code == 400
        assert client.get("/v1/projects/deep/occurrences/occ-40").status_code == 200
        assert client.get("/v1/projects/deep/occurrences").status_code == 500
        assert client.get("/v1/projects/deep/artifacts:history", query_string={"resourceUri": IMAGE}).status_code == 500
        assert client.get("/v1/projects/gate/decisions").status_code == 500
        r = client.patch("/v1/projects/odd/occurrences/occ-newline?updateMask=remediation", json={"remediation": "x"})
        assert r.status_code == 400 and "resourceUri must not hold control characters" in r.json["error"]["message"]
    finally:
        app.extensions["grafeas"].storage.dispose()


def test_a_database_it_cannot_examine_is_exit_2(tmp_path, database):
    missing = tmp_path / "missing.db"
    result = doctor(f"sqlite:///{missing}")
    assert result.returncode == 2 and "no database at" in result.stderr
    assert not missing.exists()  # looking created nothing

    unreachable = doctor("postgresql://postgres@127.0.0.1:1/none")
    assert unreachable.returncode == 2 and "cannot connect" in unreachable.stderr

    from alembic import command

    command.downgrade(db.alembic_config(database), "0010")
    behind = doctor(database, "--json")
    assert behind.returncode == 2 and "grafeas-py db upgrade" in behind.stderr and behind.stdout == ""


def test_a_database_never_migrated_is_exit_2(tmp_path):
    if POSTGRES_URL:
        url = _postgres_schema_url(POSTGRES_URL, "doctor_empty")[0]
    else:
        (tmp_path / "empty.db").touch()
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = doctor(url)
    assert result.returncode == 2 and "never migrated" in result.stderr
