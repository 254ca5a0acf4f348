"""Fixtures: a migrated database (SQLite, or PostgreSQL when GRAFEAS_TEST_DATABASE_URL is set),
the app on a real HTTP server, a `requests` session and the official `grafeas` client."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from contextlib import contextmanager

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from grafeas_py import create_app, db
from grafeas_py.config import Settings

from .spec_conformance import check_response

POSTGRES_URL = os.environ.get("GRAFEAS_TEST_DATABASE_URL", "")
_schemas: list[str] = []


def _admin_engine():
    return create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))


def _postgres_schema_url(base: str, worker: str) -> tuple[str, str]:
    """A fresh schema per use, so parallel workers and repeated runs never share tables."""
    schema = f"t_{worker}_{uuid.uuid4().hex[:8]}"
    engine = _admin_engine()
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    _schemas.append(schema)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


@pytest.fixture(scope="session", autouse=True)
def _drop_test_schemas():
    yield
    if _schemas:
        engine = _admin_engine()
        with engine.begin() as conn:
            for schema in _schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id):
    """A database migrated to head by Alembic, as production is."""
    if POSTGRES_URL:
        url, _schema = _postgres_schema_url(POSTGRES_URL, worker_id)
        db.upgrade(url)
        yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'grafeas.db'}"
        db.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(Settings(database_url=database_url, max_body_bytes=4 * 1024 * 1024))
    yield app
    app.extensions["grafeas"].storage.dispose()  # its audit sealer stops before the schemas are dropped


@contextmanager
def serve(app):
    """`app` on a real threaded HTTP server on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def unwritable(path):
    """`path`, a file or a directory, where no process may write meanwhile: by its mode, or as root, whom modes
    do not stop, by the immutable attribute (skipped where chattr +i is not permitted: CAP_LINUX_IMMUTABLE)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if path.is_dir():  # root may make files in any directory; an immutable one fails as unopenable instead
        pytest.skip("as root no directory stops SQLite making its -wal file as it would a user")
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("as root only the immutable attribute stops writes, and chattr +i is not permitted here")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def fresh_database_url(tmp_path, name: str) -> str:
    """A new database migrated to head: a SQLite file in `tmp_path`, or a fresh PostgreSQL schema."""
    url = _postgres_schema_url(POSTGRES_URL, name)[0] if POSTGRES_URL else f"sqlite:///{tmp_path / f'{name}.db'}"
    db.upgrade(url)
    return url


@pytest.fixture(scope="session")
def base_url(app):
    """The app on a real threaded HTTP server on a free loopback port."""
    with serve(app) as url:
        yield url


class Http(requests.Session):
    """A session whose paths are relative to the test server, and whose every answer is checked
    against the committed OpenAPI document (tests/spec_conformance.py)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, self.base + url, *args, **kwargs)
        check_response(response)
        return response


@pytest.fixture(scope="session")
def http(base_url):
    with Http(base_url) as session:
        yield session


@pytest.fixture(scope="session")
def grafeas_client(base_url):
    """The unmodified official client over its REST transport, as the reference describes."""
    from google.auth.credentials import AnonymousCredentials
    from grafeas.grafeas_v1 import GrafeasClient
    from grafeas.grafeas_v1.services.grafeas.transports.rest import GrafeasRestTransport

    transport = GrafeasRestTransport(
        host=base_url.removeprefix("http://"), url_scheme="http", credentials=AnonymousCredentials()
    )
    return GrafeasClient(transport=transport)


@pytest.fixture
def project():
    """A fresh project id per test, so tests never see each other's data."""
    return f"p-{uuid.uuid4().hex[:12]}"
