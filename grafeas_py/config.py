"""Settings, read from the environment (GRAFEAS_*) with defaults for local use."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .auth.settings import AuthSettings

DEFAULT_DATABASE_URL = "sqlite:///grafeas.db"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start; `from_env` is the usual way to make one."""

    database_url: str = DEFAULT_DATABASE_URL
    # Largest request body accepted; a batch of 1000 rich occurrences fits well within it.
    max_body_bytes: int = 32 * 1024 * 1024
    # Signs page tokens; when unset, a random key is made once and kept in the database.
    secret_key: str | None = None
    pool_size: int = 5
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
            database_url=os.environ.get("GRAFEAS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            max_body_bytes=_env_int("GRAFEAS_MAX_BODY_BYTES", cls.max_body_bytes),
            secret_key=os.environ.get("GRAFEAS_SECRET_KEY") or None,
            pool_size=_env_int("GRAFEAS_DB_POOL_SIZE", cls.pool_size),
            admission_config=os.environ.get("GRAFEAS_ADMISSION_CONFIG") or None,
            auth=AuthSettings.from_env(),
            bindings_ttl=_env_float("GRAFEAS_BINDINGS_TTL", cls.bindings_ttl),
            audit_seal_seconds=_env_float("GRAFEAS_AUDIT_SEAL_SECONDS", cls.audit_seal_seconds),
        )
