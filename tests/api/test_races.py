"""Writes racing each other on one resource, over real HTTP: updates against deletes and other
updates of a note, an occurrence or a gate policy, creates against a delete of a project. The losers
get 404, 409 ABORTED or 409 ALREADY_EXISTS, never a 5xx, and each resource's revisions stay
contiguous, with one tombstone at most, written by the one delete that won.

On PostgreSQL, a server of a test's own is held at one point of a request (a lock the test holds)
while other requests run, found waiting in pg_stat_activity: one interleaving, every time."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from grafeas_py import create_app
from grafeas_py.config import Settings
from grafeas_py.ingest.service import occurrence_id
from grafeas_py.storage.tables import history, notes, occurrences
from tests.conftest import POSTGRES_URL, Http, serve
from tests.factories import IMAGE, NOTE_BODIES, occurrence_body

ROUNDS = 12
POLICY = {"description": "d", "rules": {"vulnerabilities": {"maximumFixableSeverity": "MEDIUM"}}}
# Per kind: where its revisions are listed, and an update of it by racer `n`.
KINDS = {
    "note": (":history", lambda n: {"shortDescription": f"racer {n}"}),
    "occurrence": (":history", lambda n: {"remediation": f"racer {n}"}),
    "policy": ("/revisions", lambda n: {**POLICY, "description": f"racer {n}"}),
}
postgres_only = pytest.mark.skipif(
    not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)"
)
# How many of the server's statements that match a pattern wait for a lock, found by the application
# name its connections carry.
_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock'"
    " AND query LIKE :query"
)
# The server's sessions that wait for each other: a deadlock, which they were told not to break.
_DEADLOCKED = text(
    "SELECT a.pid FROM pg_stat_activity a JOIN pg_stat_activity b ON b.pid = ANY(pg_blocking_pids(a.pid))"
    " WHERE a.application_name = :name AND a.pid = ANY(pg_blocking_pids(b.pid))"
)


def create(http, project: str, kind: str, index: int) -> str:
    """A fresh note, occurrence or policy for one round; its name."""
    if kind == "note":
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": f"n{index}"}, json=NOTE_BODIES["BUILD"])
    elif kind == "occurrence":
        body = occurrence_body("BUILD", f"projects/{project}/notes/target", f"{IMAGE}-{index}")
        r = http.post(f"/v1/projects/{project}/occurrences", json=body)
    else:
        r = http.post(f"/v1/projects/{project}/policies", params={"policyId": f"p{index}"}, json=POLICY)
    assert r.status_code == 200, r.text
    return r.json()["name"]


def race(base_url: str, rounds: list[list[tuple[str, str, dict | None]]]) -> list[list]:
    """Each round's requests (method, path, body), one per racer, released together; their answers."""
    racers = len(rounds[0])
    barrier = threading.Barrier(racers)

    def racer(number: int) -> list:
        answers = []
        with Http(base_url) as http:  # a connection of its own, open before the first round starts
            try:
                http.get("/v1/projects/warm-up/notes")
                for calls in rounds:
                    method, path, body = calls[number]
                    barrier.wait()
                    answers.append(http.request(method, path, json=body))
            except BaseException:
                barrier.abort()  # the other racers stop waiting for this one
                raise
        return answers

    with ThreadPoolExecutor(racers) as pool:
        per_racer = list(pool.map(racer, range(racers)))
    return [list(answers) for answers in zip(*per_racer, strict=True)]


def outcome(answers: list) -> list[tuple[str, int, str | None]]:
    """(method, status, error status) of each answer, having checked that it is a clean win or loss."""
    seen = [(r.request.method, r.status_code, r.json().get("error", {}).get("status")) for r in answers]
    assert all(status in (200, 404, 409) for _, status, _ in seen), [r.text for r in answers]
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_updates_racing_deletes_lose_cleanly_and_keep_history_contiguous(http, base_url, project, kind):
    if kind == "occurrence":
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "target"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
    history_of, update = KINDS[kind]
    names = [create(http, project, kind, index) for index in range(ROUNDS)]
    calls = [("PATCH", update(0)), ("PATCH", update(1)), ("DELETE", None), ("DELETE", None)]
    rounds = race(base_url, [[(method, f"/v1/{name}", body) for method, body in calls] for name in names])

    for name, answers in zip(names, rounds, strict=True):
        seen = outcome(answers)
        assert all(grpc in (None, "NOT_FOUND", "ABORTED") for *_, grpc in seen), seen
        # Each 409 a lost compare-and-set, none a deadlock PostgreSQL broke (a 409 too, a second late).
        lost = [r.json()["error"]["message"] for r in answers if r.status_code == 409]
        assert all("changed by another request" in message for message in lost), lost
        revisions = http.get(f"/v1/{name}{history_of}", params={"pageSize": 1000}).json()["revisions"]
        actions = [entry["action"] for entry in revisions]
        assert [entry["revision"] for entry in revisions] == list(range(1, len(revisions) + 1)), actions
        updated = sum(1 for method, status, _ in seen if method == "PATCH" and status == 200)
        deleted = sum(1 for method, status, _ in seen if method == "DELETE" and status == 200)
        assert deleted <= 1 and actions == ["CREATE"] + ["UPDATE"] * updated + ["DELETE"] * deleted, seen
        assert http.get(f"/v1/{name}").status_code == (404 if deleted else 200)


def test_creates_racing_a_delete_of_a_project_continue_its_revisions(http, base_url, project):
    names = [f"projects/{project}-{index}" for index in range(ROUNDS)]
    for name in names:
        assert http.post("/v1/projects", json={"name": name}).status_code == 200
    calls = [lambda name: ("POST", "/v1/projects", {"name": name})] * 2 + [lambda name: ("DELETE", f"/v1/{name}", None)]
    rounds = race(base_url, [[call(name) for call in calls] for name in names])

    for name, answers in zip(names, rounds, strict=True):
        seen = outcome(answers)
        assert all(grpc in (None, "ALREADY_EXISTS") for *_, grpc in seen), seen
        created = sum(1 for method, status, _ in seen if method == "POST" and status == 200)
        assert created <= 1 and ("DELETE", 200, None) in seen, seen
        # A project created again once the delete went through is numbered after its tombstone, so it
        # can be deleted again: numbered from the revision read before, its tombstone was a 500.
        r = http.delete(f"/v1/{name}")
        assert r.status_code == (200 if created else 404), r.text


@dataclass
class Held:
    """A server of a test's own (`http` to it), and `engine` for the test's own transactions."""

    name: str
    base_url: str
    http: Http
    engine: Engine

    def call(self, method: str, path: str, **kwargs):
        """A request on a session of its own, as each thread of a test needs."""
        with Http(self.base_url) as http:
            return http.request(method, path, **kwargs)

    def waiting(self, query: str) -> int:
        """How many of the server's statements LIKE `query` wait for a lock (each look a new snapshot)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(_WAITING, {"name": self.name, "query": query}).scalar()

    def wait(self, query: str, until: Future, count: int = 1) -> None:
        """Until `count` of the server's statements LIKE `query` wait for a lock, or `until` is done."""
        while self.waiting(query) < count and not until.done():
            time.sleep(0.01)

    def deadlocked(self) -> bool:
        """Whether two of the server's sessions wait for each other; if so, one is cancelled, to end it."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            pids = conn.execute(_DEADLOCKED, {"name": self.name}).scalars().all()
            if pids:
                conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pids[0]})
        return bool(pids)


@contextmanager
def held_server(database_url: str, breaks_deadlocks: bool = True):
    """The app on a server of its own whose connections carry a name of their own; without
    `breaks_deadlocks` they leave a deadlock among them for the test to see (`Held.deadlocked`)."""
    name = f"race-{uuid.uuid4().hex[:8]}"
    url = f"{database_url}&application_name={name}"
    # PostgreSQL looks for a deadlock once per wait, deadlock_timeout into it (1 s by default): a test forms
    # the cycle a moment after the server began to wait, and on a loaded machine that moment passed 1 s,
    # no look found the cycle and the server's request ended at statement_timeout as 504. 3 s leaves room.
    url = url.replace("options=", f"options=-cdeadlock_timeout%3D{'3s' if breaks_deadlocks else '10min'}%20", 1)
    app = create_app(Settings(database_url=url))
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with serve(app) as base_url, Http(base_url) as http:
            yield Held(name, base_url, http, engine)
    finally:
        app.extensions["grafeas"].storage.dispose()
        engine.dispose()


@contextmanager
def inserts_held(server: Held, table: str, project: str, only: str = "TRUE"):
    """Inserts into `table` in `project` of rows NEW that `only` holds for wait till the block ends or releases them."""
    key, hold = uuid.uuid4().int >> 65, f"hold_{uuid.uuid4().hex[:8]}"
    with server.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        release = lambda: conn.execute(text("SELECT pg_advisory_unlock_all()"))  # noqa: E731
        # The project and the key are the test's own: its trigger keeps out of other tests' way.
        conn.execute(
            text(
                f"CREATE FUNCTION {hold}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.project_id = '{project}' AND {only} THEN PERFORM pg_advisory_xact_lock_shared({key});"
                " END IF;"
                " RETURN NEW; END $$"
            )
        )
        conn.execute(text(f"CREATE TRIGGER {hold} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {hold}()"))
        try:
            yield release
        finally:
            release()
            conn.execute(text(f"DROP TRIGGER {hold} ON {table}"))
            conn.execute(text(f"DROP FUNCTION {hold}()"))


@postgres_only
def test_a_deadlock_is_409_aborted_to_retry_not_503(database_url, project):
    """Should two writers still lock in opposite orders, the one PostgreSQL rolls back is told to retry."""
    # A transaction of the test's own holds the history row a delete goes on to write, as an update did
    # before it locked its row first, and then waits for the deleted row.
    # The pool outermost: should anything fail, the test's transaction ends before the delete is awaited.
    with ThreadPoolExecutor(1) as pool, held_server(database_url) as server:
        http = server.http
        r = http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        with server.engine.connect() as other:
            other.execute(text("SET LOCAL deadlock_timeout = '10min'"))  # the server's check finds the cycle
            kept = dict(project_id=project, resource_type="note", resource_id="n", revision=1, deleted=False)
            other.execute(insert(history).values(**kept, update_time=0))
            deleting = pool.submit(server.call, "DELETE", f"/v1/projects/{project}/notes/n")
            server.wait("INSERT INTO history%", deleting)  # the delete, its row deleted, waits for the row above
            other.execute(select(notes.c.pk).where(notes.c.project_id == project).with_for_update())
            other.rollback()
        r = deleting.result()
        assert r.status_code == 409 and r.json()["error"]["status"] == "ABORTED", r.text
        assert "retry" in r.json()["error"]["message"]
        assert http.get(f"/v1/projects/{project}/notes/n").status_code == 200  # the delete was rolled back
        assert http.delete(f"/v1/projects/{project}/notes/n").status_code == 200


def _findings(project: str, severity: str, keys: list[str]) -> dict:
    """An ingestion plan of one VULNERABILITY finding per idempotency key, in the order of `keys`."""
    note = f"projects/{project}/notes/CVE-2024-7"
    body = occurrence_body("VULNERABILITY", note)
    body["vulnerability"]["effectiveSeverity"] = severity
    return {
        "notes": {note: NOTE_BODIES["VULNERABILITY"]},
        "occurrences": [{"key": k, "occurrence": body} for k in keys],
    }


def _keep_revision_1(conn, project: str, key: str) -> None:
    """Write (uncommitted) the history row an update of the finding of `key` at revision 1 goes on to write."""
    kept = dict(project_id=project, resource_type="occurrence", resource_id=occurrence_id(key), revision=1)
    conn.execute(insert(history).values(**kept, deleted=False, update_time=0))


@postgres_only
def test_ingestions_updating_the_same_findings_in_other_orders_wait_rather_than_deadlock(database_url, project):
    """Two rescans list two findings in opposite orders: written in id order, the second waits for the first."""
    first, second = "a" * 64, "b" * 64  # their occurrence ids in this order too
    path = f"/v1/projects/{project}/occurrences:ingest?format=plan"
    with ThreadPoolExecutor(2) as pool, held_server(database_url, breaks_deadlocks=False) as server:
        assert server.http.post(path, json=_findings(project, "LOW", [first, second])).json()["created"] == 2
        with server.engine.connect() as other:
            # The first rescan, once it holds the first finding, waits for the history row of it.
            _keep_revision_1(other, project, first)
            rescans = [pool.submit(server.call, "POST", path, json=_findings(project, "HIGH", [first, second]))]
            server.wait("INSERT INTO history%", rescans[0])
            # The second, listing the findings the other way round, waits for a finding the first holds.
            rescans.append(pool.submit(server.call, "POST", path, json=_findings(project, "CRITICAL", [second, first])))
            server.wait("%FOR %UPDATE", rescans[1])
            other.rollback()
        while not all(rescan.done() for rescan in rescans):
            assert not server.deadlocked(), "the rescans deadlocked"
            time.sleep(0.01)
        answers = [rescan.result() for rescan in rescans]
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
        assert [r.json()["updated"] for r in answers] == [2, 2]
        stored = server.http.get(f"/v1/projects/{project}/occurrences").json()["occurrences"]
        assert {o["vulnerability"]["effectiveSeverity"] for o in stored} == {"CRITICAL"}


@postgres_only
def test_ingestions_creating_the_same_notes_in_other_orders_wait_rather_than_deadlock(database_url, project):
    """Two reports lacking the same two notes list them in opposite orders: inserted in id order, the
    second waits for the first's, then finds them taken and retries."""

    def report(marker: str, key: str, order: list[str]) -> dict:
        note = {**NOTE_BODIES["VULNERABILITY"], "shortDescription": marker}
        plan = _findings(project, "LOW", [key * 64])
        plan["notes"] = {f"projects/{project}/notes/{n}": note for n in order}
        plan["occurrences"][0]["occurrence"]["noteName"] = f"projects/{project}/notes/a"
        return plan

    path = f"/v1/projects/{project}/occurrences:ingest?format=plan"
    # The first report's insert of note b waits, its note a inserted; the pool outermost, as above.
    held_b = "NEW.note_id = 'b' AND NEW.data->>'shortDescription' = 'first'"
    with (
        ThreadPoolExecutor(2) as pool,
        held_server(database_url, breaks_deadlocks=False) as server,
        inserts_held(server, "notes", project, held_b) as release,
    ):
        reports = [pool.submit(server.call, "POST", path, json=report("first", "d", ["a", "b"]))]
        server.wait("INSERT INTO notes%", reports[0])
        # The second, inserting in id order, waits for note a before it takes b, which the first goes on to insert.
        reports.append(pool.submit(server.call, "POST", path, json=report("second", "e", ["b", "a"])))
        server.wait("INSERT INTO notes%", reports[1], count=2)
        release()
        while not all(r.done() for r in reports):
            assert not server.deadlocked(), "the reports deadlocked"
            time.sleep(0.01)
    answers = [r.result() for r in reports]
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert [(r.json()["created"], r.json()["notesCreated"]) for r in answers] == [(1, 2), (1, 0)]


@postgres_only
def test_batches_creating_the_same_notes_in_other_orders_wait_rather_than_deadlock(database_url, project):
    """Two notes:batchCreate list the same two notes in opposite orders: inserted in id order, the second
    waits for the first and is told the notes exist, where PostgreSQL broke a deadlock a second late (409
    ABORTED)."""

    def batch(marker: str, order: list[str]) -> dict:
        return {"notes": {n: {**NOTE_BODIES["VULNERABILITY"], "shortDescription": marker} for n in order}}

    path = f"/v1/projects/{project}/notes:batchCreate"
    # The first batch's insert of note b waits, its note a inserted; the pool outermost, as above.
    held_b = "NEW.note_id = 'b' AND NEW.data->>'shortDescription' = 'first'"
    with (
        ThreadPoolExecutor(2) as pool,
        held_server(database_url, breaks_deadlocks=False) as server,
        inserts_held(server, "notes", project, held_b) as release,
    ):
        batches = [pool.submit(server.call, "POST", path, json=batch("first", ["a", "b"]))]
        server.wait("INSERT INTO notes%", batches[0])
        batches.append(pool.submit(server.call, "POST", path, json=batch("second", ["b", "a"])))
        server.wait("INSERT INTO notes%", batches[1], count=2)  # for note a, or (unsorted) after taking b
        release()
        while not all(b.done() for b in batches):
            assert not server.deadlocked(), "the batches deadlocked"
            time.sleep(0.01)
        stored = server.http.get(f"/v1/projects/{project}/notes").json()["notes"]
    answers = [b.result() for b in batches]
    assert [r.status_code for r in answers] == [200, 409], [r.text for r in answers]
    assert answers[1].json()["error"]["status"] == "ALREADY_EXISTS"
    assert {n["shortDescription"] for n in stored} == {"first"} and len(stored) == 2


@postgres_only
def test_a_note_another_request_creates_first_is_refused_by_its_name(database_url, project):
    """Both found the id free; the one whose insert came second said "one of the notes already exists; no
    notes were created", as if it were a batch."""
    path = f"/v1/projects/{project}/notes"
    note = lambda marker: {**NOTE_BODIES["BUILD"], "shortDescription": marker}  # noqa: E731
    held = "NEW.data->>'shortDescription' = 'first'"
    with (
        ThreadPoolExecutor(1) as pool,
        held_server(database_url) as server,
        inserts_held(server, "notes", project, held) as release,
    ):
        first = pool.submit(server.call, "POST", path, params={"noteId": "n"}, json=note("first"))
        server.wait("INSERT INTO notes%", first)  # the id found free, its insert waits
        assert server.http.post(path, params={"noteId": "n"}, json=note("second")).status_code == 200
        release()
        r = first.result()
    assert r.status_code == 409 and r.json()["error"]["status"] == "ALREADY_EXISTS", r.text
    assert r.json()["error"]["message"] == f"note 'projects/{project}/notes/n' already exists"


def create_while_a_twin_comes_and_goes(database_url, http, table, project, held, path, params, twin, late):
    """POST `late` to `path` on a server whose insert into `table` waits (for the rows `held` selects) while
    `twin`, under the same id, is created through `http` and deleted; the answer to `late` once it goes on."""
    with (
        ThreadPoolExecutor(1) as pool,
        held_server(database_url) as server,
        inserts_held(server, table, project, held) as release,
    ):
        creating = pool.submit(server.call, "POST", path, params=params, json=late)
        server.wait(f"INSERT INTO {table}%", creating)
        assert http.post(path, params=params, json=twin).status_code == 200
        assert http.delete(f"{path}/{next(iter(params.values()))}").status_code == 200
        release()
        return creating.result()


@postgres_only
def test_a_note_created_while_another_is_created_and_deleted_is_numbered_after_the_tombstone(
    database_url, http, project
):
    """It found the id free and read its first revision (1); meanwhile a twin was created and deleted, so
    history held revisions 1 and 2. Inserted at 1, its every update was 409 and every delete a 500."""
    path = f"/v1/projects/{project}/notes"
    late = {**NOTE_BODIES["BUILD"], "shortDescription": "late"}
    held = "NEW.data->>'shortDescription' = 'late'"
    twin = NOTE_BODIES["BUILD"]
    r = create_while_a_twin_comes_and_goes(
        database_url, http, "notes", project, held, path, {"noteId": "n"}, twin, late
    )
    assert r.status_code == 200, r.text
    revisions = http.get(f"{path}/n:history").json()["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(1, "CREATE"), (2, "DELETE"), (3, "CREATE")]
    assert revisions[-1]["note"]["shortDescription"] == "late"
    assert http.patch(f"{path}/n", json={"shortDescription": "again"}).status_code == 200
    assert http.delete(f"{path}/n").status_code == 200


@postgres_only
def test_a_policy_created_while_another_is_created_and_deleted_is_numbered_after_the_tombstone(
    database_url, http, project
):
    """It read revision 1 as free; meanwhile a twin took it and was deleted (revision 2): its own revision 1
    then broke the revisions' unique index, and it answered "already exists" for a policy that did not."""
    path = f"/v1/projects/{project}/policies"
    late = {**POLICY, "description": "late"}
    held = "NEW.data->>'description' = 'late'"
    args = (path, {"policyId": "p"}, POLICY, late)
    r = create_while_a_twin_comes_and_goes(database_url, http, "policies", project, held, *args)
    assert r.status_code == 200 and r.json()["revision"] == 3, r.text
    revisions = http.get(f"{path}/p/revisions").json()["revisions"]
    assert [v["revision"] for v in revisions] == [1, 2, 3], revisions
    stored = http.get(f"{path}/p").json()
    assert (stored["revision"], stored["description"]) == (3, "late")


@postgres_only
def test_a_keyed_retry_that_finds_its_occurrence_deleted_meanwhile_does_not_bring_it_back(database_url, http, project):
    """The retry found the ids free and unused; before its insert, the first request created them and a
    caller deleted one. Inserted all the same, the deleted occurrence came back at revision 1, stuck."""
    note = f"projects/{project}/notes/n"
    assert http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
    path, body, key = f"/v1/projects/{project}/occurrences", occurrence_body("BUILD", note), {"Idempotency-Key": "k"}
    with (
        ThreadPoolExecutor(1) as pool,
        held_server(database_url) as server,
        # Only the held server's inserts wait: the first request goes to the other one.
        inserts_held(server, "occurrences", project, f"current_setting('application_name') = '{server.name}'") as go,
    ):
        retry = pool.submit(server.call, "POST", path, json=body, headers=key)
        server.wait("INSERT INTO occurrences%", retry)
        first = http.post(path, json=body, headers=key)
        assert first.status_code == 200, first.text
        assert http.delete(f"/v1/{first.json()['name']}").status_code == 200
        go()
        r = retry.result()
    assert r.status_code == 409 and r.json()["error"]["status"] == "ALREADY_EXISTS", r.text
    assert http.get(f"/v1/{first.json()['name']}").status_code == 404
    revisions = http.get(f"/v1/{first.json()['name']}:history").json()["revisions"]
    assert [(r["revision"], r["action"]) for r in revisions] == [(1, "CREATE"), (2, "DELETE")]


@postgres_only
def test_a_delete_that_loses_to_an_update_says_so(database_url, project):
    """The occurrence changes after the delete checked it (who may delete it, on which note): the delete
    is refused, and said "while this update ran"."""
    with ThreadPoolExecutor(1) as pool, held_server(database_url) as server:
        note = f"projects/{project}/notes/n"
        assert server.http.post(f"/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
        name = server.http.post(f"/v1/projects/{project}/occurrences", json=occurrence_body("BUILD", note)).json()[
            "name"
        ]
        with server.engine.connect() as other:
            # Another request's update, not yet committed: the delete reads revision 1, then waits for the row.
            other.execute(occurrences.update().where(occurrences.c.project_id == project).values(revision=2))
            deleting = pool.submit(server.call, "DELETE", f"/v1/{name}")
            server.wait("DELETE FROM occurrences%", deleting)
            other.commit()
        r = deleting.result()
    assert r.status_code == 409 and r.json()["error"]["status"] == "ABORTED", r.text
    assert r.json()["error"]["message"] == "the resource was changed by another request while this delete ran; retry it"


@postgres_only
def test_an_ingestion_that_loses_a_deadlock_is_retried(database_url, project):
    """PostgreSQL rolls an ingestion back to break a deadlock: it reads again and writes, as after a lost
    compare-and-set, rather than answer 409."""
    key = "c" * 64
    path = f"/v1/projects/{project}/occurrences:ingest?format=plan"
    with ThreadPoolExecutor(1) as pool, held_server(database_url) as server:
        assert server.http.post(path, json=_findings(project, "LOW", [key])).json()["created"] == 1
        with server.engine.connect() as other:
            other.execute(text("SET LOCAL deadlock_timeout = '10min'"))  # the server's check finds the cycle
            _keep_revision_1(other, project, key)
            rescan = pool.submit(server.call, "POST", path, json=_findings(project, "HIGH", [key]))
            server.wait("INSERT INTO history%", rescan)  # holding the finding, it waits for the row above
            other.execute(select(occurrences.c.pk).where(occurrences.c.project_id == project).with_for_update())
            other.rollback()
        r = rescan.result()
        assert r.status_code == 200, r.text
        assert r.json()["updated"] == 1


@postgres_only
@pytest.mark.parametrize("how", ["single", "batch", "idempotent", "ingest"])
def test_an_occurrence_created_while_its_note_is_replaced_keeps_the_kind_of_its_note(database_url, project, how):
    """Its note deleted and created again as another kind while the create is under way: the delete waits
    for the create, whose occurrence then keeps the note from coming back as another kind, or the create
    finds the note gone and writes nothing."""
    note = f"projects/{project}/notes/n"
    path, body, headers = f"/v1/projects/{project}/occurrences", occurrence_body("BUILD", note), {}
    if how in ("batch", "idempotent"):
        path, body = f"{path}:batchCreate", {"occurrences": [body]}
        headers = {"Idempotency-Key": f"ci-run-{project}"} if how == "idempotent" else {}
    elif how == "ingest":
        path, body = f"{path}:ingest?format=plan", {"notes": {}, "occurrences": [{"key": "f" * 64, "occurrence": body}]}

    def replace() -> list:
        deleted = server.call("DELETE", f"/v1/{note}")
        return [deleted, server.call("POST", f"/v1/projects/{project}/notes?noteId=n", json=NOTE_BODIES["DISCOVERY"])]

    with ThreadPoolExecutor(2) as pool, held_server(database_url) as server:
        assert server.http.post(f"/v1/projects/{project}/notes?noteId=n", json=NOTE_BODIES["BUILD"]).status_code == 200
        with inserts_held(server, "occurrences", project):
            creating = pool.submit(server.call, "POST", path, json=body, headers=headers)
            server.wait("%", creating)  # the create, its note checked, waits to insert (on the advisory lock)
            replacing = pool.submit(replace)
            server.wait("DELETE FROM notes%", replacing)
        created, (deleted, recreated) = creating.result(), replacing.result()
        lost = 400 if how == "ingest" else 409  # an ingestion that lost retries, and finds the other kind
        assert created.status_code in (200, lost) and deleted.status_code == 200, created.text
        kind = server.http.get(f"/v1/{note}").json().get("kind")
        stored = server.http.get(f"/v1/projects/{project}/occurrences").json().get("occurrences", [])
        assert kind is None or all(o["kind"] == kind for o in stored), (kind, stored, recreated.text)
        assert len(stored) == (created.status_code == 200)


@postgres_only
@pytest.mark.parametrize("kind", ["note", "occurrence", "notes", "occurrences", "idempotent", "ingest", "policy"])
def test_a_delete_of_a_project_waits_for_a_create_in_it_and_is_refused(database_url, project, kind):
    """A create in the project under way when its delete begins: the delete finds what it wrote."""
    note = f"projects/{project}-notes/notes/n"  # an occurrence's note need not be in its project
    table, path, body = {
        "note": ("notes", f"/v1/projects/{project}/notes?noteId=n", NOTE_BODIES["BUILD"]),
        "notes": ("notes", f"/v1/projects/{project}/notes:batchCreate", {"notes": {"n": NOTE_BODIES["BUILD"]}}),
        "occurrence": ("occurrences", f"/v1/projects/{project}/occurrences", occurrence_body("BUILD", note)),
        "occurrences": (
            "occurrences",
            f"/v1/projects/{project}/occurrences:batchCreate",
            {"occurrences": [occurrence_body("BUILD", note)]},
        ),
        "idempotent": ("occurrences", f"/v1/projects/{project}/occurrences", occurrence_body("BUILD", note)),
        "ingest": (
            "occurrences",
            f"/v1/projects/{project}/occurrences:ingest?format=plan",
            {"notes": {}, "occurrences": [{"key": "f" * 64, "occurrence": occurrence_body("BUILD", note)}]},
        ),
        "policy": ("policies", f"/v1/projects/{project}/policies?policyId=p", POLICY),
    }[kind]
    with ThreadPoolExecutor(2) as pool, held_server(database_url) as server:
        assert server.http.post(f"/v1/projects/{project}-notes/notes?noteId=n", json=NOTE_BODIES["BUILD"]).ok
        assert server.http.post("/v1/projects", json={"name": f"projects/{project}"}).status_code == 200
        with inserts_held(server, table, project):
            headers = {"Idempotency-Key": f"ci-run-{project}"} if kind == "idempotent" else {}
            creating = pool.submit(server.call, "POST", path, json=body, headers=headers)
            server.wait("%", creating)  # the create waits to insert (on the advisory lock)
            deleting = pool.submit(server.call, "DELETE", f"/v1/projects/{project}")
            server.wait("%", deleting, count=2)  # and the delete waits for it
        assert creating.result().status_code == 200, creating.result().text
        r = deleting.result()
        assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION", r.text
        assert server.http.get(f"/v1/projects/{project}").status_code == 200
