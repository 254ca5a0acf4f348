"""Compute again the artifact keys of URIs written with an image transport's scheme.

Until this release, `docker://gcr.io/acme/app@sha256:...` and `oci://...` were read as package
coordinates: their key was the URI as written, so kept as none, and the gate and the artifact timeline
never matched them with the same image under `https://`. They are images now, keyed as the `https://`
spelling is. Every key is computed again with this release's rule, as 0014 did, and those that differ
are written.

Downgrading keeps the new keys: the rule before this one has no code left to compute it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from alembic import op

from grafeas_py.storage.artifact_keys import recompute_artifact_keys

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recompute_artifact_keys(op.get_bind())


def downgrade() -> None:
    pass
