"""A PostgreSQL that stops answering, behind a paused relay, under gunicorn: requests fail with 503
within bounds, probes answer, the admission webhook denies in time, and all recovers; the
connections a server keeps stay within what its pools allow; and a batch's COPY fails as a 503."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from grafeas_py import create_app
from grafeas_py.config import Settings
from tests.conftest import POSTGRES_URL, _postgres_schema_url, fresh_database_url, serve
from tests.factories import NOTE_BODIES, OCCURRENCE_DETAILS
from tests.relay import Relay
from tests.test_cli import GRAFEAS_PY, ROOT, _env, _free_port

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)"
)

DIGEST_URI = "https://gcr.io/acme/app@sha256:" + "3" * 64
# The webhook's deadline, and what it may take beyond it: a thread switch and a round trip.
DEADLINE_SECONDS, SLACK_SECONDS = 2.5, 1.5


@contextmanager
def _serving(command: list[str], env: dict, port: int, log: Path):
    """A running server's base URL, once ready. Its output goes to `log`: a pipe nobody reads while
    it serves would fill with access log lines and stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _review() -> dict:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": DIGEST_URI.removeprefix("https://")}]},
    }
    request = {"uid": str(uuid.uuid4()), "kind": {"kind": "Pod"}, "namespace": "prod", "operation": "CREATE"}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {**request, "object": pod}}


def _timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _occurrence(project: str) -> dict:
    return {"resourceUri": DIGEST_URI, "noteName": f"projects/{project}/notes/n", **OCCURRENCE_DETAILS["BUILD"]}


def _ready_again(base: str) -> None:
    """Wait until /readyz answers 200 once the database is back (at most 30 s)."""
    deadline = time.monotonic() + 30
    while requests.get(f"{base}/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the database came back"
        time.sleep(0.2)


def test_a_stalled_database_costs_503s_within_bounds_and_then_recovers(tmp_path, worker_id):
    database = make_url(POSTGRES_URL)
    with Relay((database.host or "127.0.0.1", database.port or 5432)) as relay:
        url = _postgres_schema_url(POSTGRES_URL, f"stall_{worker_id}")[0]
        url = url.replace(f"{database.host}:{database.port or 5432}", f"127.0.0.1:{relay.port}", 1)
        assert str(relay.port) in url
        project = f"stall-{uuid.uuid4().hex[:8]}"
        config = tmp_path / "admission.yaml"
        policy_name = f"projects/{project}/policies/prod"
        config.write_text(f"namespaces: {{prod: {policy_name}}}\ndeadlineSeconds: {DEADLINE_SECONDS}\n")
        env = {**_env(url), "GRAFEAS_DB_TIMEOUT": "2", "GRAFEAS_ADMISSION_CONFIG": str(config)}
        port = _free_port()
        command = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "2", "--threads", "4"]
        with _serving(command, env, port, tmp_path / "server.log") as base:
            note = f"{base}/v1/projects/{project}/notes/n"
            batch = f"{base}/v1/projects/{project}/occurrences:batchCreate"
            policy = requests.post(f"{base}/v1/projects/{project}/policies", params={"policyId": "prod"}, json={})
            assert policy.status_code == 200, policy.text
            assert requests.post(note.rsplit("/", 1)[0], params={"noteId": "n"}, json=NOTE_BODIES["BUILD"]).ok
            with ThreadPoolExecutor(8) as pool:  # every worker's pools hold open connections
                assert all(r.ok for r in pool.map(lambda _: requests.get(note), range(40)))
            assert requests.post(f"{base}/v1/admission:review", json=_review()).json()["response"]["allowed"]

            relay.pause()
            try:
                # A dozen probes given up after a second, as kubelets do: they must not hold threads.
                abandoned = [threading.Thread(target=_probe_and_give_up, args=(base,)) for _ in range(12)]
                for thread in abandoned:
                    thread.start()
                for thread in abandoned:
                    thread.join()
                r, took = _timed(lambda: requests.get(f"{base}/healthz", timeout=30))
                assert r.status_code == 200 and took < 5, took
                r, took = _timed(lambda: requests.get(f"{base}/readyz", timeout=60))
                assert r.status_code == 503 and took < 6, (took, r.text)
                assert r.json()["error"]["status"] == "UNAVAILABLE"
                for call in (
                    lambda: requests.get(note, timeout=60),
                    lambda: requests.post(batch, json={"occurrences": [_occurrence(project)] * 60}, timeout=60),
                    lambda: requests.get(note, timeout=60),
                ):
                    r, took = _timed(call)
                    assert r.status_code == 503 and took < 10, (took, r.text)
                    assert r.json()["error"]["status"] == "UNAVAILABLE" and r.headers["Retry-After"]
                r, took = _timed(lambda: requests.post(f"{base}/v1/admission:review", json=_review(), timeout=60))
                answer = r.json()["response"]
                assert answer["allowed"] is False and took < DEADLINE_SECONDS + SLACK_SECONDS, (took, answer)
                # A burst of calls: one thread per worker at a time tries to connect, the rest fail
                # at once, so /healthz finds a free thread; each waiting to connect queued it behind
                # 60 x 2 s of connect timeouts over 8 threads.
                with ThreadPoolExecutor(60) as pool:
                    burst = [pool.submit(_timed, lambda: requests.get(note, timeout=60)) for _ in range(60)]
                    time.sleep(0.5)  # the burst reaches the workers first
                    r, took = _timed(lambda: requests.get(f"{base}/healthz", timeout=60))
                    assert r.status_code == 200 and took < 5, took
                    assert all(f.result()[0].status_code == 503 for f in burst)
            finally:
                relay.resume()

            _ready_again(base)
            for _ in range(8):  # each worker, each pool
                assert requests.get(note, timeout=30).status_code == 200
            r = requests.post(batch, json={"occurrences": [_occurrence(project)] * 60}, timeout=30)
            assert r.status_code == 200, r.text
            assert requests.post(f"{base}/v1/admission:review", json=_review()).json()["response"]["allowed"]


def _probe_and_give_up(base: str) -> None:
    try:
        requests.get(f"{base}/readyz", timeout=1)
    except requests.Timeout:
        pass


def test_a_server_keeps_at_most_workers_x_2_x_pool_size_connections(tmp_path, worker_id):
    """Each worker has a writer and a reader pool of GRAFEAS_DB_POOL_SIZE connections and no overflow:
    four threads on pools of one queue for a connection instead of opening more (before: 9 here)."""
    name = f"pool-{uuid.uuid4().hex[:8]}"
    url = _postgres_schema_url(POSTGRES_URL, f"pool_{worker_id}")[0] + f"&application_name={name}"
    env = {**_env(url), "GRAFEAS_DB_POOL_SIZE": "1"}
    workers, pool_size = 2, 1
    port = _free_port()
    command = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", str(workers), "--threads", "4"]
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    counts: list[int] = []
    loaded = threading.Event()

    def sample() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not loaded.is_set():
                query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n")
                counts.append(conn.execute(query, {"n": name}).scalar())
                time.sleep(0.01)

    with _serving(command, env, port, tmp_path / "server.log") as base:
        project = f"p-{name}"
        r = requests.post(f"{base}/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text

        def client(_: int) -> list[int]:
            # Batches and long pages keep connections busy, so that threads overlap on them.
            statuses = []
            with requests.Session() as session:
                for _ in range(8):
                    batch = {"occurrences": [_occurrence(project)] * 100}
                    r = session.post(f"{base}/v1/projects/{project}/occurrences:batchCreate", json=batch)
                    statuses.append(r.status_code)
                    page = session.get(f"{base}/v1/projects/{project}/occurrences", params={"pageSize": 200})
                    statuses.append(page.status_code)
            return statuses

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(24) as pool:
                statuses = [s for batch in pool.map(client, range(24)) for s in batch]
        finally:
            loaded.set()
            sampler.join()
        admin.dispose()
    assert set(statuses) == {200}, sorted(set(statuses))
    assert counts and max(counts) > 0
    assert max(counts) <= workers * 2 * pool_size, max(counts)


@pytest.mark.parametrize("batch_size", [1, 60], ids=["insert", "copy"])
def test_a_write_cut_off_by_the_statement_timeout_is_a_504_naming_it(database_url, project, batch_size):
    """Waiting on a lock past GRAFEAS_DB_TIMEOUT: the database is up, so not 503 "unavailable" but 504
    DEADLINE_EXCEEDED. COPY (a batch of 60) talks to psycopg directly; its errors must reach the handlers
    as SQLAlchemy's do."""
    app = create_app(Settings(database_url=database_url, db_timeout=1, audit_seal_seconds=0))
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = make_url(database_url).query["options"].split("=", 1)[1]
    try:
        with serve(app) as base:
            r = requests.post(f"{base}/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
            assert r.status_code == 200, r.text
            batch = {"occurrences": [_occurrence(project)] * batch_size}
            with admin.connect() as locker:
                locker.execute(text(f'LOCK TABLE "{schema}".occurrences IN EXCLUSIVE MODE'))  # the write waits
                r = requests.post(f"{base}/v1/projects/{project}/occurrences:batchCreate", json=batch, timeout=60)
                locker.rollback()
            assert (r.status_code, r.json()["error"]["status"]) == (504, "DEADLINE_EXCEEDED"), r.text
            assert "within GRAFEAS_DB_TIMEOUT (1 s)" in r.json()["error"]["message"]
            r = requests.post(f"{base}/v1/projects/{project}/occurrences:batchCreate", json=batch, timeout=60)
            assert r.status_code == 200, r.text
    finally:
        admin.dispose()
        app.extensions["grafeas"].storage.dispose()


def test_readiness_of_a_migrated_database_that_does_not_answer_does_not_ask_for_a_migration(database_url):
    """Any error reading alembic_version read as "never migrated: run 'grafeas-py db upgrade'": on a
    healthy production database whose table was locked, or whose connection was cut."""
    app = create_app(Settings(database_url=database_url, db_timeout=1, audit_seal_seconds=0))
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = make_url(database_url).query["options"].split("=", 1)[1]
    try:
        with serve(app) as base:
            assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
            with admin.connect() as locker:
                locker.execute(text(f'LOCK TABLE "{schema}".alembic_version IN ACCESS EXCLUSIVE MODE'))
                r = requests.get(f"{base}/readyz", timeout=30)
                locker.rollback()
            assert (r.status_code, r.json()["error"]["message"]) == (503, "database unreachable"), r.text
            assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
    finally:
        admin.dispose()
        app.extensions["grafeas"].storage.dispose()


def test_readiness_probes_of_a_stalled_database_share_one_check_and_answer_in_time(tmp_path):
    """No statement timeout here (GRAFEAS_DB_TIMEOUT=0), so a ping waits as long as the stall lasts."""
    database = make_url(POSTGRES_URL)
    with Relay((database.host or "127.0.0.1", database.port or 5432)) as relay:
        url = fresh_database_url(tmp_path, "ready")
        url = url.replace(f"{database.host}:{database.port or 5432}", f"127.0.0.1:{relay.port}", 1)
        app = create_app(Settings(database_url=url, db_timeout=0, audit_seal_seconds=0))
        try:
            with serve(app) as base:
                assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
                relay.pause()
                try:
                    with ThreadPoolExecutor(12) as pool:
                        probes = list(
                            pool.map(lambda _: _timed(lambda: requests.get(f"{base}/readyz", timeout=30)), range(12))
                        )
                    assert all(r.status_code == 503 and took < 5 for r, took in probes), [
                        (r.status_code, took) for r, took in probes
                    ]
                    checks = [t for t in threading.enumerate() if t.name == "readiness"]
                    assert len(checks) == 1, checks
                finally:
                    relay.resume()
                _ready_again(base)
        finally:
            app.extensions["grafeas"].storage.dispose()


@pytest.mark.parametrize("how", ["--threads", "GUNICORN_CMD_ARGS"])
def test_a_worker_has_a_connection_for_each_of_its_threads(tmp_path, worker_id, how):
    """The pools' default size follows the threads gunicorn runs, however they were given: it followed
    GRAFEAS_THREADS only, so with 7 threads two requests at a time queued for one of 5 connections."""
    name = f"threads-{uuid.uuid4().hex[:8]}"
    url = _postgres_schema_url(POSTGRES_URL, f"threads_{worker_id}")[0] + f"&application_name={name}"
    env = {k: v for k, v in _env(url).items() if k not in ("GRAFEAS_THREADS", "GRAFEAS_DB_POOL_SIZE")}
    env["GRAFEAS_DB_TIMEOUT"] = "60"  # the writes below wait on a lock for as long as the test needs
    port = _free_port()
    command = [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "1"]
    if how == "--threads":
        command += ["--threads", "7"]
    else:
        env["GUNICORN_CMD_ARGS"] = "--threads 7"
    schema = make_url(url).query["options"].split("=", 1)[1]
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n AND wait_event_type = 'Lock'")
    with _serving(command, env, port, tmp_path / "server.log") as base:
        project = f"p-{name}"
        r = requests.post(f"{base}/v1/projects/{project}/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        with admin.connect() as locker, admin.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            locker.execute(text(f'LOCK TABLE "{schema}".occurrences IN EXCLUSIVE MODE'))  # every create waits
            with ThreadPoolExecutor(7) as pool:
                post = lambda _: requests.post(f"{base}/v1/projects/{project}/occurrences", json=_occurrence(project))  # noqa: E731
                answers = pool.map(post, range(7))
                deadline = time.monotonic() + 30
                while (held := watcher.execute(waiting, {"n": name}).scalar()) < 7:
                    if time.monotonic() > deadline:
                        locker.rollback()  # let the requests end before failing
                        pytest.fail(f"only {held} of 7 threads had a connection")
                    time.sleep(0.05)
                locker.rollback()
                assert [a.status_code for a in answers] == [200] * 7
    admin.dispose()
