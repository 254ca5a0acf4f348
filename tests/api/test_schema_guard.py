"""A server whose schema revision the database has left (a newer release ran `db upgrade` while it ran)
writes nothing: its rows would lack what the new schema keeps for them, some of which the gate reads.
Reads go on; /readyz says so; writes succeed again once the revisions agree."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from grafeas_py import create_app, db
from grafeas_py.config import Settings
from grafeas_py.storage.engine import make_engine
from tests.conftest import Http, fresh_database_url, serve
from tests.factories import IMAGE, NOTE_BODIES, occurrence_body

NOTE = "projects/guard/notes/n"
POLICY = {"rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}


@pytest.fixture
def server(tmp_path):
    """A server of the test's own on a fresh database: a session to it, and an engine on its database."""
    url = fresh_database_url(tmp_path, "guard")
    app = create_app(Settings(database_url=url))
    engine = make_engine(url)
    try:
        with serve(app) as base:
            http = Http(base)
            assert http.post("/v1/projects/guard/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
            yield http, engine
    finally:
        app.extensions["grafeas"].storage.dispose()
        engine.dispose()


def set_revision(engine, revision: str) -> None:
    with engine.connect() as conn, conn.execution_options(write=True).begin():
        conn.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})


def writes(http, occurrence: str) -> dict:
    """One of each kind of write, by name: the answer of each."""
    body = occurrence_body("BUILD", NOTE, f"{IMAGE}-new")
    return {
        "CreateNote": http.post("/v1/projects/guard/notes", params={"noteId": "m"}, json=NOTE_BODIES["BUILD"]),
        "CreateOccurrence": http.post("/v1/projects/guard/occurrences", json=body),
        "BatchCreateOccurrences": http.post("/v1/projects/guard/occurrences:batchCreate", json={"occurrences": [body]}),
        "UpdateNote": http.patch(f"/v1/{NOTE}", json={"shortDescription": "changed"}),
        "DeleteOccurrence": http.delete(f"/v1/{occurrence}"),
        "EvaluatePolicy": http.post("/v1/projects/guard/policies/p:evaluate", json={"resourceUri": IMAGE}),
    }


def test_a_server_writes_nothing_into_a_schema_a_newer_release_migrated(server):
    http, engine = server
    occurrence = http.post("/v1/projects/guard/occurrences", json=occurrence_body("BUILD", NOTE)).json()["name"]
    assert http.post("/v1/projects/guard/policies", params={"policyId": "p"}, json=POLICY).ok
    set_revision(engine, "9000")
    for rpc, r in writes(http, occurrence).items():
        assert r.status_code == 503, (rpc, r.text)
        assert r.json()["error"] == {
            "code": 503,
            "status": "UNAVAILABLE",
            "message": f"the database schema is at revision 9000, which this server (at {db.head()}) does not"
            " know: a newer release migrated it; run that release; nothing was written",
            "details": [],
        }, rpc
    assert http.get("/readyz").status_code == 503
    assert [n["name"] for n in http.get("/v1/projects/guard/notes").json()["notes"]] == [NOTE]
    assert "shortDescription" not in http.get(f"/v1/{NOTE}").json()
    assert [o["name"] for o in http.get("/v1/projects/guard/occurrences").json()["occurrences"]] == [occurrence]
    set_revision(engine, db.head())
    assert {rpc: r.status_code for rpc, r in writes(http, occurrence).items()} == dict.fromkeys(
        [
            "CreateNote",
            "CreateOccurrence",
            "BatchCreateOccurrences",
            "UpdateNote",
            "DeleteOccurrence",
            "EvaluatePolicy",
        ],
        200,
    )
    assert [d["decision"] for d in http.get("/v1/projects/guard/decisions").json()["decisions"]] == ["ALLOW"]


@pytest.mark.parametrize("rpc", ["CreateOccurrence", "BatchCreateOccurrences"])
def test_a_write_that_waited_for_the_upgrade_is_refused_when_the_upgrade_commits(server, rpc):
    """The upgrade holds the occurrences table (PostgreSQL) or the database (SQLite) while it runs: a write
    arriving then waits, and must not commit after it as the old release would have written it."""
    http, engine = server
    body = occurrence_body("BUILD", NOTE)
    answers = []
    with engine.connect() as upgrade, upgrade.execution_options(write=True).begin():
        if engine.dialect.name == "postgresql":
            upgrade.exec_driver_sql("LOCK TABLE occurrences IN ACCESS EXCLUSIVE MODE")
        upgrade.exec_driver_sql("UPDATE alembic_version SET version_num = '9000'")
        if rpc == "CreateOccurrence":
            post = lambda: http.post("/v1/projects/guard/occurrences", json=body)  # noqa: E731
        else:
            post = lambda: http.post("/v1/projects/guard/occurrences:batchCreate", json={"occurrences": [body]})  # noqa: E731
        writer = threading.Thread(target=lambda: answers.append(post()))
        writer.start()
        time.sleep(1.0)
        assert writer.is_alive()  # waiting for the upgrade
    writer.join(timeout=30)
    [r] = answers
    assert r.status_code == 503 and r.json()["error"]["message"].endswith("; nothing was written"), r.text
    assert http.get("/v1/projects/guard/occurrences").json() == {}
