"""Index the other filterable text columns in code point order on PostgreSQL, as 0011 did resource URIs.

Filters compare text by code point on every database (`has_prefix` is a range, `<` and `>=` too),
which on PostgreSQL are text_pattern_ops's operators: an index of the default operator class serves
none of them. An auditor's `has_prefix(resource, "projects/acme/")` read the whole audit trail, and
`has_prefix(resourceUri, ...)` on decisions, or a range of note ids, read a whole project. Equality
is served as before. SQLite's BINARY collation is code point order already.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# (table, index, its columns, the text columns a filter ranges over). Not a note's project, by which
# ListNoteOccurrences orders its pages: only the default class keeps that order.
_INDEXES = (
    ("occurrences", "ix_occurrences_note_project_id_note_id_pk", ["note_project_id", "note_id", "pk"], ["note_id"]),
    ("decisions", "ix_decisions_project_id_resource_uri_pk", ["project_id", "resource_uri", "pk"], ["resource_uri"]),
    ("decisions", "ix_decisions_project_id_policy_id_pk", ["project_id", "policy_id", "pk"], ["policy_id"]),
    ("audit_log", "ix_audit_log_resource_seq", ["resource", "seq"], ["resource"]),
    ("audit_log", "ix_audit_log_principal_seq", ["principal", "seq"], ["principal"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, index, columns, by_code_point in _INDEXES:
        op.drop_index(index, table)
        op.create_index(index, table, columns, postgresql_ops=dict.fromkeys(by_code_point, "text_pattern_ops"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, index, columns, _ in _INDEXES:
        op.drop_index(index, table)
        op.create_index(index, table, columns)
