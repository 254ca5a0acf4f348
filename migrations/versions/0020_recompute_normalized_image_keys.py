"""Compute again the artifact keys of images written with escapes, runs of `/`, dot segments, a trailing dot
on the host, or `:80` after `http://`.

Until this release such a spelling (`https://gcr.io/acme/%61pp@sha256:...`, `gcr.io//acme/app@...`) was
keyed as written, while policies' patterns read it as `gcr.io/acme/app@...`: a finding stored under one
spelling was not read when the gate was asked about the other. Keys are now in the form patterns see.
Every key is computed again with this release's rule, as 0014, 0017 and 0018 did, and those that differ
are written.

Downgrading keeps the new keys: the rule before this one has no code left to compute it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29
"""

from alembic import op

from grafeas_py.storage.artifact_keys import recompute_artifact_keys

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recompute_artifact_keys(op.get_bind())


def downgrade() -> None:
    pass
