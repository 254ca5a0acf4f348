"""Index the audit trail by resource and by principal, for an auditor's filtered listings.

`GET /v1/admin/auditEntries?filter=resource="..."` read the whole chain to find one resource's
entries; the trail grows with every change ever made.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_audit_log_resource_seq"), "audit_log", ["resource", "seq"])
    op.create_index(op.f("ix_audit_log_principal_seq"), "audit_log", ["principal", "seq"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_principal_seq"), "audit_log")
    op.drop_index(op.f("ix_audit_log_resource_seq"), "audit_log")
