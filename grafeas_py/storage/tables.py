"""The database schema. Alembic migrations create it; this module only describes it."""

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Serial = BigInteger().with_variant(Integer(), "sqlite")
# Documents are JSON text on SQLite and JSONB on PostgreSQL (indexable for filters).
Document = JSON().with_variant(JSONB(), "postgresql")
# Times are microseconds since the Unix epoch (UTC): exact, zone-free and cheap to bind in bulk.
Time = BigInteger()

projects = Table(
    "projects",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False, unique=True),
    Column("create_time", Time, nullable=False),
    sqlite_autoincrement=True,
)

notes = Table(
    "notes",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("note_id", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("create_time", Time, nullable=False),
    Column("update_time", Time, nullable=False),
    Column("data", Document, nullable=False),
    Index(None, "project_id", "note_id", unique=True),
    Index(None, "project_id", "pk"),
    Index(None, "project_id", "kind", "pk"),
    sqlite_autoincrement=True,
)

occurrences = Table(
    "occurrences",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("occurrence_id", String(36), nullable=False),
    Column("note_project_id", Text, nullable=False),
    Column("note_id", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("resource_uri", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("create_time", Time, nullable=False),
    Column("update_time", Time, nullable=False),
    Column("data", Document, nullable=False),
    Index(None, "project_id", "occurrence_id", unique=True),
    Index(None, "project_id", "pk"),
    Index(None, "note_project_id", "note_id", "pk"),
    Index(None, "project_id", "resource_uri", "pk"),
    Index(None, "project_id", "kind", "pk"),
    Index(None, "project_id", "create_time"),
    sqlite_autoincrement=True,
)

# Deploy-gate policies: the current revision of each, and every revision ever made (a delete
# leaves a tombstone revision), so a decision always names a revision that can still be read.
policies = Table(
    "policies",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("policy_id", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("create_time", Time, nullable=False),
    Column("update_time", Time, nullable=False),
    Column("data", Document, nullable=False),
    Index(None, "project_id", "policy_id", unique=True),
    Index(None, "project_id", "pk"),
    sqlite_autoincrement=True,
)

policy_revisions = Table(
    "policy_revisions",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("policy_id", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("create_time", Time, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("data", Document, nullable=False),
    Index(None, "project_id", "policy_id", "revision", unique=True),
    sqlite_autoincrement=True,
)

# Gate decisions, immutable once written: what was decided about which artifact, under which
# policy revision, from which occurrences.
decisions = Table(
    "decisions",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("policy_id", Text, nullable=False),
    Column("policy_revision", Integer, nullable=False),
    Column("resource_uri", Text, nullable=False),
    Column("decision", String(32), nullable=False),
    Column("evaluate_time", Time, nullable=False),
    Column("data", Document, nullable=False),
    Index(None, "project_id", "decision_id", unique=True),
    Index(None, "project_id", "pk"),
    Index(None, "project_id", "resource_uri", "pk"),
    Index(None, "project_id", "policy_id", "pk"),
    sqlite_autoincrement=True,
)

# PostgreSQL only: GIN indexes answer containment (`data @> ...`), which equality filters on any
# document field compile to there. `info["dialect"]` tells Alembic's comparison to skip them elsewhere.
for _table in (notes, occurrences):
    Index(
        f"ix_{_table.name}_data",
        _table.c.data,
        postgresql_using="gin",
        postgresql_ops={"data": "jsonb_path_ops"},
        info={"dialect": "postgresql"},
    )

# Server-wide secrets (the page-token signing key), shared by every instance on one database.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
