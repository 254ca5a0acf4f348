"""The bindings version every process polls must change with every change, whatever the commit order."""

import pytest
from sqlalchemy import insert

from grafeas_py.auth.authz import Binding
from grafeas_py.storage.engine import make_engines
from grafeas_py.storage.sql import SqlStorage
from grafeas_py.storage.tables import role_bindings
from tests.conftest import POSTGRES_URL

NOW = "2026-11-27T12:00:00Z"


@pytest.fixture
def storage(database_url):
    storage = SqlStorage(*make_engines(database_url))
    yield storage
    with storage.engine.begin() as conn:
        conn.execute(role_bindings.delete().where(role_bindings.c.project.like("version-%")))
    storage.dispose()


def test_every_change_changes_the_version(storage):
    versions = [storage.bindings_version()]
    binding = Binding("version-a", "auditor", "user:a")
    storage.create_binding(binding, NOW)
    versions.append(storage.bindings_version())
    storage.delete_binding(binding)
    versions.append(storage.bindings_version())
    assert versions[0] != versions[1] != versions[2]
    assert versions[2] == versions[0]  # the same bindings: nothing to reload


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: SQLite writers cannot overlap; .ci/run gives the URL")
def test_a_key_committed_late_and_a_delete_still_change_the_version(storage):
    # PostgreSQL takes a key at insert and commits later: (count, max key) came back to a cached value
    # after a late commit and a delete, and the deleted binding stayed in force in that process.
    revoked = Binding("version-b", "occurrencesViewer", "token:victim")
    storage.create_binding(revoked, NOW)
    with storage.engine.connect() as slow:
        transaction = slow.begin()
        row = dict(project="version-b", role="auditor", member="user:late", create_time=0)
        slow.execute(insert(role_bindings).values(**row))  # takes a key, does not commit yet
        storage.create_binding(Binding("version-b", "auditor", "user:quick"), NOW)  # a later key, committed
        cached = storage.bindings_version()
        transaction.commit()
    storage.delete_binding(revoked)
    assert storage.bindings_version() != cached
