"""Compute again the artifact keys of URIs that hold a capital letter.

0012 and 0013 kept the artifact key of each URI spelled otherwise than its key, by the rule of their
release: a first segment without a dot or a port (`LOCALHOST/app@sha256:...`) was a path on Docker
Hub, `docker.io/LOCALHOST/app`. As Docker reads it, a segment in capitals is a registry host (a
repository path is lower case), and `artifact_key` has read it so since: the gate and the artifact
timeline look such an image up as `localhost/app`, and missed what was kept under the old key, an
occurrence stored as `http://LOCALHOST/app@sha256:...` among them. Only the keys of URIs with a
capital letter can have changed; every key is computed again with this release's rule (in Python:
SQLite's lower() knows ASCII only) and those that differ are written.

Downgrading keeps the new keys: the rule before this one has no code left to compute it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from alembic import op

from grafeas_py.storage.artifact_keys import recompute_artifact_keys

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    recompute_artifact_keys(op.get_bind())


def downgrade() -> None:
    pass
