"""The database schema. Alembic migrations create it; this module only describes it."""

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, text
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
# Optional JSON: None is SQL NULL (by default SQLAlchemy would store the JSON text 'null').
OptionalJson = JSON(none_as_null=True)
OptionalDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# Times are microseconds since the Unix epoch (UTC): exact, zone-free and cheap to bind in bulk.
Time = BigInteger()


def _by_code_point(*columns: str) -> dict[str, str]:
    """PostgreSQL operator classes for the text `columns` a filter ranges over (has_prefix, `<`...).

    Filters compare text by code point on both databases, as SQLite's BINARY collation does; on
    PostgreSQL those are text_pattern_ops's operators, which an index of the default operator class
    does not serve (migrations 0011, 0016). The class serves `=` as well."""
    return dict.fromkeys(columns, "text_pattern_ops")


def _revision_columns() -> tuple[Column, ...]:
    """Who made a resource's current revision and, for an update, which field paths it changed
    (NULL for a create). NULL authors are rows written before history was kept."""
    return Column("updated_by", Text), Column("changed_fields", OptionalJson)


projects = Table(
    "projects",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False, unique=True),
    Column("create_time", Time, nullable=False),
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("updated_by", Text),
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
    *_revision_columns(),
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
    *_revision_columns(),
    # The artifact the URI names (gate.artifacts.artifact_key), kept only where the URI is spelled
    # otherwise (a tag beside the digest, http://, a host in capitals, Docker Hub's other names): the
    # gate finds the rest by the URI itself, so most writes pay for no entry in this index.
    Column("artifact_key", Text),
    Index(None, "project_id", "occurrence_id", unique=True),
    Index(None, "project_id", "pk"),
    # Not by code point in the note's project: ListNoteOccurrences's pages are in (note project, pk) order.
    Index(None, "note_project_id", "note_id", "pk", postgresql_ops=_by_code_point("note_id")),
    Index(
        None,
        "project_id",
        "artifact_key",
        "pk",
        sqlite_where=text("artifact_key IS NOT NULL"),
        postgresql_where=text("artifact_key IS NOT NULL"),
    ),
    # By URI, and by prefix.
    Index(None, "project_id", "resource_uri", "pk", postgresql_ops=_by_code_point("resource_uri")),
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
    # who made the revision, and for an update which top-level fields of the document changed
    Column("updated_by", Text),
    Column("changed_fields", OptionalJson),
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
    Index(None, "project_id", "resource_uri", "pk", postgresql_ops=_by_code_point("resource_uri")),
    Index(None, "project_id", "policy_id", "pk", postgresql_ops=_by_code_point("policy_id")),
    # As occurrences keep it: the artifact, where `resource_uri` spells it otherwise (see below).
    Column("artifact_key", Text),
    Index("ix_decisions_timeline", "project_id", "resource_uri", "evaluate_time", "decision_id"),
    Index(
        "ix_decisions_artifact_timeline",
        "project_id",
        "artifact_key",
        "evaluate_time",
        "decision_id",
        sqlite_where=text("artifact_key IS NOT NULL"),
        postgresql_where=text("artifact_key IS NOT NULL"),
    ),
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

# Server-wide secrets (the keys of page tokens and of idempotent requests' ids), shared by every instance on
# one database.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# API tokens: only the SHA-256 of each secret (see auth.tokens). A name may hold several tokens,
# so one can be rotated without losing the bindings made to `token:<name>`.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("name", Text, nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("create_time", Time, nullable=False),
    Column("expire_time", Time),
    Column("revoke_time", Time),
    Index(None, "name"),
)

# Who holds which role on which project (`*`: every project). Rows are only inserted and deleted,
# never updated, so (count, max pk) changes with every change: the cheap version check of auth.live.
role_bindings = Table(
    "role_bindings",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project", Text, nullable=False),
    Column("role", String(64), nullable=False),
    Column("member", Text, nullable=False),
    Column("create_time", Time, nullable=False),
    Index(None, "project", "role", "member", unique=True),
    sqlite_autoincrement=True,
)

# Superseded revisions and tombstones of projects, notes and occurrences. A resource's current row
# is its newest revision, so a create writes nothing here; an update copies the row it replaces and
# a delete copies the last revision and adds a tombstone (deleted, no data). A re-created note or
# project, or an ingested occurrence reported again after a delete (its id derives from its key),
# continues the numbering. `resource_uri` and `artifact_key` (occurrences only) serve artifact timelines.
history = Table(
    "history",
    metadata,
    Column("pk", Serial, primary_key=True, autoincrement=True),
    Column("project_id", Text, nullable=False),
    Column("resource_type", String(16), nullable=False),  # project, note or occurrence
    Column("resource_id", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("updated_by", Text),
    Column("update_time", Time, nullable=False),
    Column("changed_fields", OptionalJson),
    Column("resource_uri", Text),
    Column("data", OptionalDocument),
    Column("artifact_key", Text),  # as the occurrence kept it
    Index(None, "project_id", "resource_type", "resource_id", "revision", unique=True),
    Index("ix_history_timeline", "project_id", "resource_uri", "update_time", "resource_id", "revision"),
    Index(
        "ix_history_artifact_timeline",
        "project_id",
        "artifact_key",
        "update_time",
        "resource_id",
        "revision",
        sqlite_where=text("artifact_key IS NOT NULL"),
        postgresql_where=text("artifact_key IS NOT NULL"),
    ),
    sqlite_autoincrement=True,
)

# Audit entries recorded with their changes and not yet sealed into the chain (`audit_log`). Writers
# only insert here, so they never wait on one another; the sealer moves rows to the chain in `id`
# order once no transaction that could still add an earlier one is running. `txid` is the writer's
# PostgreSQL transaction id, which tells the sealer that (NULL on SQLite, whose writers take turns).
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("txid", BigInteger),
    Column("time", String(40), nullable=False),
    Column("principal", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("credential", Text),  # how the principal signed in (Principal.proof); NULL before 0009
    sqlite_autoincrement=True,
)

# The tamper-evident trail of every change (see auth.audit): `seq` is assigned by the chain, not the
# database, and `detail` is the canonical JSON text that was hashed, so it reads back byte for byte.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("principal", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("credential", Text),  # hashed when set; entries sealed before 0009 have none
    # An auditor's questions: everything done to one resource, everything one principal did.
    Index(None, "resource", "seq", postgresql_ops=_by_code_point("resource")),
    Index(None, "principal", "seq", postgresql_ops=_by_code_point("principal")),
)
