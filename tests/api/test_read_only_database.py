"""A SQLite database that became read-only under a running server (a worker booted since the file was made
read-only opens it so): writes say that, not to retry later, which CI jobs did for good; /readyz says it too,
and both recover once the file is writable again, without a restart."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from grafeas_py import create_app, db
from grafeas_py.config import Settings
from tests.conftest import Http, serve, unwritable
from tests.factories import NOTE_BODIES

REASON = (
    "the file, or its -wal or -shm file beside it, is read-only (their permissions, a read-only mount, or mode=ro"
    " in the URL)"
)
READ_ONLY = f"the database cannot be written: {REASON}"
POD = {"kind": "Pod", "spec": {"containers": [{"name": "app", "image": "gcr.io/acme/app@sha256:" + "a" * 64}]}}
REVIEW = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {"uid": "u1", "kind": {"kind": "Pod"}, "namespace": "prod", "operation": "CREATE", "object": POD},
}


def _create_note(http: Http, note_id: str):
    return http.post("/v1/projects/ro/notes", params={"noteId": note_id}, json=NOTE_BODIES["BUILD"])


def _assert_refused_as_read_only(http: Http) -> None:
    r = _create_note(http, "refused")
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE", r.text
    rid = r.headers["X-Request-Id"]
    assert r.json()["error"]["message"] == (
        f"{READ_ONLY}; nothing was written, and retrying will not help until an operator makes it writable"
        f" (request id {rid})"
    )
    assert "Retry-After" not in r.headers  # retrying soon is what does not help
    ready = http.get("/readyz")
    assert (ready.status_code, ready.json()["error"]["message"]) == (503, READ_ONLY), ready.text
    assert http.get("/v1/projects/ro/notes/kept").status_code == 200  # reads go on
    # The admission webhook denies, as it records its decision, saying why rather than "could not reach".
    verdict = http.post("/v1/admission:review", json=REVIEW).json()["response"]
    assert verdict["allowed"] is False and verdict["status"]["message"] == (
        f"grafeas-py's database cannot be written: {REASON}; denied"
    )


@pytest.mark.parametrize("how", ["mode=ro in the URL", "a read-only file"])
def test_writes_to_a_read_only_sqlite_database_say_so_until_it_is_writable(tmp_path, how):
    database = tmp_path / "grafeas.db"
    url = f"sqlite:///{database}"
    db.upgrade(url)
    admission = tmp_path / "admission.yaml"
    admission.write_text("namespaces:\n  prod: projects/ro/policies/prod\n")
    app = create_app(Settings(database_url=url))
    try:
        with serve(app) as base, Http(base) as http:
            assert _create_note(http, "kept").status_code == 200
            assert http.post("/v1/projects/ro/policies", params={"policyId": "prod"}, json={"rules": {}}).ok
    finally:
        app.extensions["grafeas"].storage.dispose()
    read_only = ExitStack()
    if how == "mode=ro in the URL":
        url = f"sqlite:///file:{database}?mode=ro&uri=true"
    else:
        read_only.enter_context(unwritable(database))
    # As a worker booted since: it opens the file read-only.
    app = create_app(Settings(database_url=url, admission_config=str(admission)))
    try:
        with serve(app) as base, Http(base) as http:
            _assert_refused_as_read_only(http)
            if how == "a read-only file":
                read_only.close()
                for beside in tmp_path.glob("grafeas.db-*"):  # SQLite made its -shm file with the file's mode
                    beside.chmod(0o644)
                # Writable again: the connections opened read-only meanwhile are not kept.
                assert http.get("/readyz").status_code == 200
                assert _create_note(http, "written").status_code == 200
    finally:
        read_only.close()
        app.extensions["grafeas"].storage.dispose()
