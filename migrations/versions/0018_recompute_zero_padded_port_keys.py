"""Compute again the artifact keys of images whose registry port was written with leading zeros.

Until this release `gcr.io:0443/acme/app@sha256:...` was keyed with its port as written, so neither the
gate nor the artifact timeline matched it with `gcr.io/acme/app@sha256:...`, the image a runtime pulls
for it: a finding stored under one spelling let the other through. The port is now read as a runtime
dials it (`:0443` is `:443`, the default, left out; `:05000` is `:5000`). Every key is computed again
with this release's rule, as 0014 and 0017 did, and those that differ are written.

Downgrading keeps the new keys: the rule before this one has no code left to compute it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from alembic import op

from grafeas_py.storage.artifact_keys import recompute_artifact_keys

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recompute_artifact_keys(op.get_bind())


def downgrade() -> None:
    pass
