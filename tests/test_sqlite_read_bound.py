"""On SQLite, a read that runs past GRAFEAS_DB_TIMEOUT is interrupted and answers 504, as PostgreSQL's
statement_timeout makes it, instead of holding a server thread for as long as it takes."""

from __future__ import annotations

import pytest
import requests

from grafeas_py import create_app
from grafeas_py.config import Settings
from tests.conftest import POSTGRES_URL, fresh_database_url, serve
from tests.factories import NOTE_BODIES, OCCURRENCE_DETAILS

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite only: PostgreSQL has its statement_timeout")

ROWS, TERMS = 4000, 127


def test_a_read_past_the_timeout_is_a_504_and_the_server_answers_the_next(tmp_path, project):
    """127 OR-ed document terms over 4000 occurrences take some 0.7 s; the bound is 0.05 s. Writes are
    not bounded: the batches that store the rows take longer than that and succeed."""
    app = create_app(Settings(database_url=fresh_database_url(tmp_path, "bound"), db_timeout=0.05))
    try:
        with serve(app) as base, requests.Session() as http:
            note = NOTE_BODIES["VULNERABILITY"]
            r = http.post(f"{base}/v1/projects/{project}/notes", params={"noteId": "n"}, json=note)
            assert r.status_code == 200, r.text
            item = {"resourceUri": "https://gcr.io/a/b", "noteName": f"projects/{project}/notes/n"}
            for _ in range(ROWS // 1000):
                batch = {"occurrences": [{**item, **OCCURRENCE_DETAILS["VULNERABILITY"]}] * 1000}
                r = http.post(f"{base}/v1/projects/{project}/occurrences:batchCreate", json=batch)
                assert r.status_code == 200, r.text
            terms = " OR ".join(f'vulnerability.packageIssue.affectedPackage="n{i}"' for i in range(TERMS))
            params = {"pageSize": 1000, "filter": terms}
            r = http.get(f"{base}/v1/projects/{project}/notes/n/occurrences", params=params)
            assert (r.status_code, r.json()["error"]["status"]) == (504, "DEADLINE_EXCEEDED"), r.text[:500]
            assert "within GRAFEAS_DB_TIMEOUT (0.05 s)" in r.json()["error"]["message"]
            r = http.get(f"{base}/v1/projects/{project}/occurrences", params={"pageSize": 1})
            assert r.status_code == 200, r.text
            r = http.get(f"{base}/v1/{r.json()['occurrences'][0]['name']}")
            assert r.status_code == 200, r.text
    finally:
        app.extensions["grafeas"].storage.dispose()
