"""Settings read from the environment."""

import re

import pytest

from grafeas_py import create_app
from grafeas_py.config import Settings


def test_audit_seal_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GRAFEAS_AUDIT_SEAL_SECONDS", raising=False)
    assert Settings.from_env().audit_seal_seconds == 1.0
    monkeypatch.setenv("GRAFEAS_AUDIT_SEAL_SECONDS", "0.25")
    assert Settings.from_env().audit_seal_seconds == 0.25


def test_an_interval_of_zero_starts_no_sealer(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", audit_seal_seconds=0))
    assert app.extensions["grafeas"].storage._sealer is None


def test_the_pool_has_a_connection_per_gunicorn_thread_and_one_more(monkeypatch):
    monkeypatch.delenv("GRAFEAS_DB_POOL_SIZE", raising=False)
    monkeypatch.delenv("GRAFEAS_THREADS", raising=False)
    assert Settings.from_env().pool_size == 5
    monkeypatch.setenv("GRAFEAS_THREADS", "8")  # deploy/gunicorn.conf.py's threads per worker
    assert Settings.from_env().pool_size == 9
    monkeypatch.setenv("GRAFEAS_DB_POOL_SIZE", "3")
    assert Settings.from_env().pool_size == 3


def test_database_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GRAFEAS_DB_TIMEOUT", raising=False)
    assert Settings.from_env().db_timeout == 5.0
    monkeypatch.setenv("GRAFEAS_DB_TIMEOUT", "2.5")
    assert Settings.from_env().db_timeout == 2.5
    monkeypatch.setenv("GRAFEAS_DB_TIMEOUT", "-1")  # would be a statement timeout of a millisecond
    with pytest.raises(ValueError, match="GRAFEAS_DB_TIMEOUT must be from 0 to 2147483 seconds, not -1"):
        Settings.from_env()


@pytest.mark.parametrize(
    "name, value, says",
    [
        # A TTL of NaN never expired: revoked bindings kept working in every running server.
        ("GRAFEAS_BINDINGS_TTL", "nan", "must be a finite number, not 'nan'"),
        ("GRAFEAS_BINDINGS_TTL", "inf", "must be a finite number"),
        ("GRAFEAS_BINDINGS_TTL", "-1", "must be from 0 to 31536000 seconds, not -1"),
        # Every worker died converting it to PostgreSQL's statement_timeout.
        ("GRAFEAS_DB_TIMEOUT", "nan", "must be a finite number"),
        ("GRAFEAS_DB_TIMEOUT", "1e400", "must be a finite number"),
        ("GRAFEAS_DB_TIMEOUT", "3000000", "must be from 0 to 2147483 seconds"),
        # Silently never sealed.
        ("GRAFEAS_AUDIT_SEAL_SECONDS", "-1", "must be from 0 to 31536000 seconds, not -1"),
        ("GRAFEAS_DATABASE_URL", "sqlite://", "an in-memory SQLite database is one per worker process"),
        ("GRAFEAS_DATABASE_URL", "sqlite:///:memory:", "name a file, sqlite:///PATH"),
    ],
)
def test_settings_that_cannot_work_are_refused(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}.*{re.escape(says)}"):
        Settings.from_env()
