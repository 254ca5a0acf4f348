"""The common filters are served by an index, on SQLite and on PostgreSQL (read from the plans).

A database of its own is seeded with 3,000 occurrences in 10 projects over 30 artifacts, 3,000
more in one big project, as many superseded revisions and gate decisions, and an audit trail of
5,000 entries, and analyzed, so that the planners decide from real statistics rather than from
empty tables.
"""

import re

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from grafeas_py import create_app, db
from grafeas_py.config import Settings
from grafeas_py.filtering import parse
from grafeas_py.gate.artifacts import resource_spellings
from grafeas_py.names import NoteRef
from grafeas_py.storage import PageRequest
from grafeas_py.storage.sql import note_occurrences_query, occurrences_query
from grafeas_py.storage.sql_auth import audit_entries_query
from grafeas_py.storage.sql_history import artifact_history_query
from grafeas_py.storage.tables import audit_log, decisions, history
from grafeas_py.wire.grafeas_types import CODEC, NOTE, OCCURRENCE
from tests.conftest import POSTGRES_URL, _postgres_schema_url
from tests.factories import NOTE_BODIES, occurrence_body

PAGE = PageRequest(size=100)
IMAGE = "https://gcr.io/acme/app-{}@sha256:" + "a" * 64
KINDS = ["VULNERABILITY"] * 6 + ["PACKAGE"] * 2 + ["BUILD", "DISCOVERY"]
BY_RESOURCE = "ix_occurrences_project_id_resource_uri_pk"


@pytest.fixture(scope="module")
def storage(tmp_path_factory, worker_id):
    if POSTGRES_URL:
        url = _postgres_schema_url(POSTGRES_URL, f"plans_{worker_id}")[0]
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    db.upgrade(url)
    app = create_app(Settings(database_url=url))
    service = app.extensions["grafeas"].service
    notes = {f"n-{kind}": CODEC.decode(NOTE, NOTE_BODIES[kind]) for kind in set(KINDS)}
    service.batch_create_notes("vendor", notes)
    for start in range(0, 3000, 1000):
        bodies = [
            CODEC.decode(OCCURRENCE, occurrence_body(kind, f"projects/vendor/notes/n-{kind}", IMAGE.format(i % 30)))
            for i in range(start, start + 1000)
            for kind in [KINDS[i % len(KINDS)]]
        ]
        for project in range(10):
            service.batch_create_occurrences(f"p{project}", bodies[project::10])
        service.batch_create_occurrences("big", bodies)
    engine = app.extensions["grafeas"].storage.engine
    with engine.begin() as conn:
        # An audit trail of 5,000 entries, written as rows: their plans need statistics, not a valid chain.
        conn.execute(insert(audit_log), [_audit_row(seq) for seq in range(10**6, 10**6 + 5000)])
        conn.execute(insert(history), [_history_row(i) for i in range(3000)])
        conn.execute(insert(decisions), [_decision_row(i) for i in range(3000)])
        conn.execute(text("ANALYZE"))
    yield engine
    app.extensions["grafeas"].storage.dispose()


def _audit_row(seq: int) -> dict:
    return {
        "seq": seq,
        "time": "2026-11-27T00:00:00Z",
        "principal": f"user:dev-{seq % 40}@example.com",
        "action": "occurrences.update",
        "resource": f"projects/p{seq % 10}/occurrences/{seq}",
        "detail": "{}",
        "prev_hash": "0" * 64,
        "hash": "0" * 64,
    }


def _history_row(i: int) -> dict:
    return {
        "project_id": f"p{i % 10}",
        "resource_type": "occurrence",
        "resource_id": f"occurrence-{i}",
        "revision": 1,
        "deleted": False,
        "update_time": 1_800_000_000_000_000 + i,
        "resource_uri": IMAGE.format(i % 30),
        "data": {},
    }


def _decision_row(i: int) -> dict:
    return {
        "project_id": f"p{i % 10}",
        "decision_id": f"decision-{i}",
        "policy_id": "prod",
        "policy_revision": 1,
        "resource_uri": IMAGE.format(i % 30),
        "decision": "ALLOW",
        "evaluate_time": 1_800_000_000_000_000 + i,
        "data": {},
    }


class Explain(Executable, ClauseElement):
    """EXPLAIN of a query, with its parameters bound as the server binds them."""

    inherit_cache = False

    def __init__(self, query) -> None:
        self.query = query


@compiles(Explain)
def _explain(element, compiler, **kw):
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.query, **kw)


def plan(engine, query) -> str:
    with engine.connect() as conn:
        return "\n".join(str(row[-1]) for row in conn.execute(Explain(query)))


@pytest.mark.parametrize(
    "filter_, index",
    [
        (f'resourceUrl="{IMAGE.format(7)}"', BY_RESOURCE),
        (f'kind="BUILD" AND resourceUrl="{IMAGE.format(7)}"', BY_RESOURCE),
        ('kind="DISCOVERY"', "ix_occurrences_project_id_"),  # by kind, or in key order: both indexes
        # for these the planners rightly differ (by time, or in key order): any project index serves
        ('createTime > "2100-01-01T00:00:00Z"', "ix_occurrences_project_id_"),
        # unfiltered, PostgreSQL may walk the primary key until a page is full (the LIMIT is in the plan)
        ("", ("ix_occurrences_project_id_", "pk_occurrences")),
    ],
)
def test_list_occurrences_uses_an_index(storage, filter_, index):
    found = plan(storage, occurrences_query("p3", PAGE, parse(filter_)))
    assert any(i in found for i in ([index] if isinstance(index, str) else index)), found
    assert "SCAN occurrences" not in found and "Seq Scan" not in found, found


@pytest.mark.parametrize(
    "filter_, index",
    [
        ('resource="projects/p3/occurrences/1000013"', "ix_audit_log_resource_seq"),
        ('principal="user:dev-7@example.com"', "ix_audit_log_principal_seq"),
    ],
)
def test_audit_listing_by_resource_or_principal_uses_an_index(storage, filter_, index):
    found = plan(storage, audit_entries_query(PAGE, parse(filter_)))
    assert index in found, found


def test_list_note_occurrences_uses_the_note_index(storage):
    found = plan(storage, note_occurrences_query(NoteRef("vendor", "n-BUILD"), PAGE, None))
    assert "ix_occurrences_note_project_id_note_id_pk" in found, found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_member_equality_uses_the_document_index_on_postgres(storage):
    """A rare value anywhere in the documents is found through the GIN index, not by reading them all."""
    found = plan(storage, occurrences_query("big", PAGE, parse('vulnerability.packageIssue.affectedPackage="zlib"')))
    assert "ix_occurrences_data" in found, found


@pytest.mark.parametrize("after", [0, (1_800_000_000_001_500, "m", 1)], ids=["first page", "mid-walk"])
def test_an_artifact_timeline_reads_each_table_in_key_order_from_its_index(storage, after):
    """Under each spelling, history and decisions give their page from their timeline index, current
    occurrences come from the (project, URI) index: no table is scanned."""
    spellings = resource_spellings(IMAGE.format(7))
    found = plan(storage, artifact_history_query("p3", spellings, PageRequest(size=100, after=after)))
    for index in ("ix_history_timeline", "ix_decisions_timeline", BY_RESOURCE):
        assert index in found, found
    assert not re.search(r"Seq Scan|SCAN (history|occurrences|decisions)\b", found), found
