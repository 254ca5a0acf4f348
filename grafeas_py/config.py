"""Settings, read from the environment (GRAFEAS_*) with defaults for local use."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from .auth.settings import AuthSettings

DEFAULT_DATABASE_URL = "sqlite:///grafeas.db"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


# Workers per instance and threads per worker, at most: past it a typo (--workers 100000) forked until the
# machine stopped answering. A host with more cores than this runs more instances.
MAX_PROCESSES = 256


def env_count(name: str, default: int, maximum: int | None = None) -> int:
    """A whole number of at least 1 (workers, threads, connections) from the environment."""
    value = _env_int(name, default)
    if value < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
    return value


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        number = float(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):  # "nan", "inf", "1e400": a cache never refreshed, a timeout never set
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def _env_seconds(name: str, default: float, maximum: float = 365 * 86400) -> float:
    value = _env_float(name, default)
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be from 0 to {maximum:.0f} seconds, not {value:g}")
    return value


def masked_url(url: str) -> str:
    """`url` as written, but with any password in it replaced by ***, for messages and logs."""
    # Textual, not through SQLAlchemy's URL: a URL that does not parse may still hold a password.
    url = re.sub(r"(://[^/:@?#]*:)[^?#]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


def _database_url(url: str) -> str:
    """GRAFEAS_DATABASE_URL, once it names a database of a kind grafeas-py runs on."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"GRAFEAS_DATABASE_URL={masked_url(url)} is not a database URL: {exc}") from None
    if backend == "sqlite" and make_url(url).database in (None, "", ":memory:"):
        raise ValueError(
            f"GRAFEAS_DATABASE_URL={url}: an in-memory SQLite database is one per worker process, each empty;"
            " name a file, sqlite:///PATH"
        )
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(
            f"GRAFEAS_DATABASE_URL={masked_url(url)}: grafeas-py runs on SQLite (sqlite:///PATH) or PostgreSQL"
            f" (postgresql://USER@HOST/DATABASE), not {backend}"
        )
    return url


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start; `from_env` is the usual way to make one."""

    database_url: str = DEFAULT_DATABASE_URL
    # Largest request body accepted; a batch of 1000 rich occurrences fits well within it.
    max_body_bytes: int = 32 * 1024 * 1024
    # Signs page tokens; when unset, a random key is made once and kept in the database.
    secret_key: str | None = None
    # Connections in each of a worker's two PostgreSQL pools (writes, autocommit reads), never more:
    # one per gunicorn thread (GRAFEAS_THREADS, 4) and one for the worker's background threads.
    pool_size: int = 5
    # Seconds the server waits on PostgreSQL for any one thing: connecting, a free pooled connection,
    # one statement (its statement_timeout), an answer at all. A stalled database is then a 503. On
    # SQLite it bounds each read.
    db_timeout: float = 5.0
    # YAML or JSON file mapping Kubernetes namespaces to gate policies (see gate.admission).
    admission_config: str | None = None
    # Who may call, and how they prove it (GRAFEAS_AUTH, GRAFEAS_OIDC_*, ...); open by default.
    auth: AuthSettings = field(default_factory=AuthSettings)
    # How long a process trusts its copy of the role bindings before checking the table's version.
    bindings_ttl: float = 1.0
    # How often each process seals recorded audit entries into the hash chain; 0: never, leaving it
    # to other instances and to `grafeas-py` commands (`audit verify` seals before it checks).
    audit_seal_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_database_url(os.environ.get("GRAFEAS_DATABASE_URL") or DEFAULT_DATABASE_URL),
            max_body_bytes=env_count("GRAFEAS_MAX_BODY_BYTES", cls.max_body_bytes),
            secret_key=os.environ.get("GRAFEAS_SECRET_KEY") or None,
            pool_size=env_count("GRAFEAS_DB_POOL_SIZE", env_count("GRAFEAS_THREADS", 4, MAX_PROCESSES) + 1),
            # PostgreSQL takes at most 2**31 - 1 milliseconds for statement_timeout.
            db_timeout=_env_seconds("GRAFEAS_DB_TIMEOUT", cls.db_timeout, maximum=2_147_483),
            admission_config=os.environ.get("GRAFEAS_ADMISSION_CONFIG") or None,
            auth=AuthSettings.from_env(),
            bindings_ttl=_env_seconds("GRAFEAS_BINDINGS_TTL", cls.bindings_ttl),
            audit_seal_seconds=_env_seconds("GRAFEAS_AUDIT_SEAL_SECONDS", cls.audit_seal_seconds),
        )

    def check_files(self) -> None:
        """The files the settings name hold what they must (ValueError in one line): asked once as a command
        or the server starts, not by each worker as it boots (see OidcSettings.check_jwks_file)."""
        if self.auth.oidc is not None:
            self.auth.oidc.check_jwks_file()
