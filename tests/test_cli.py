"""The `grafeas-py` command: serving under gunicorn and managing the schema."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import requests

from grafeas_py import db
from tests.conftest import POSTGRES_URL, _postgres_schema_url
from tests.factories import NOTE_BODIES

GRAFEAS_PY = shutil.which("grafeas-py") or os.path.join(os.path.dirname(sys.executable), "grafeas-py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(url: str) -> dict:
    return {**os.environ, "GRAFEAS_DATABASE_URL": url}


def _fresh_url(tmp_path, worker_id):
    if POSTGRES_URL:
        return _postgres_schema_url(POSTGRES_URL, f"cli_{worker_id}")[0]
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_serve_migrates_and_answers_under_gunicorn(tmp_path, worker_id):
    url, port = _fresh_url(tmp_path, worker_id), _free_port()
    proc = subprocess.Popen(
        [GRAFEAS_PY, "serve", "--port", str(port), "--workers", "2"],
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        r = requests.post(f"{base}/v1/projects/cli/notes", params={"noteId": "n"}, json=NOTE_BODIES["BUILD"])
        assert r.status_code == 200, r.text
        # A filter longer than gunicorn's default request line (4094 bytes) still reaches the app.
        long_filter = " OR ".join(f'name="projects/cli/notes/{i:0200d}"' for i in range(30))
        r = requests.get(f"{base}/v1/projects/cli/notes", params={"filter": long_filter})
        assert len(r.request.url) > 6000 and r.status_code == 200 and r.json() == {}, r.text
        # Every worker signs and checks page tokens with the same key, kept in the database.
        requests.post(f"{base}/v1/projects/cli/notes", params={"noteId": "m"}, json=NOTE_BODIES["BUILD"])
        token = requests.get(f"{base}/v1/projects/cli/notes", params={"pageSize": 1}).json()["nextPageToken"]
        for _ in range(6):
            page = requests.get(f"{base}/v1/projects/cli/notes", params={"pageSize": 1, "pageToken": token})
            assert page.json()["notes"][0]["name"] == "projects/cli/notes/m"
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    assert "Booting worker" in output


def test_db_commands(tmp_path, worker_id):
    url = _fresh_url(tmp_path, worker_id)
    run = lambda *args: subprocess.run([GRAFEAS_PY, "db", *args], env=_env(url), capture_output=True, text=True)  # noqa: E731
    assert run("upgrade").returncode == 0
    current = run("current")
    assert current.returncode == 0 and f"{db.head()} (head)" in current.stdout
    check = run("check")
    assert check.returncode == 0, check.stderr


def test_db_check_fails_on_an_unmigrated_database(tmp_path):
    result = subprocess.run(
        [GRAFEAS_PY, "db", "check"], env=_env(f"sqlite:///{tmp_path / 'empty.db'}"), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Target database is not up to date" in result.stderr


def test_version():
    out = subprocess.run([GRAFEAS_PY, "--version"], capture_output=True, text=True).stdout
    assert out.startswith("grafeas-py, version ")
