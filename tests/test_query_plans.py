"""The common filters are served by an index, on SQLite and on PostgreSQL (read from the plans).

A database of its own is seeded with 3,000 occurrences in 10 projects over 30 artifacts, 3,000
more in one big project, as many superseded revisions and gate decisions, then 60 in a late
project, 3,000 notes and decisions of other projects before 30 of the late one, and an audit trail
of 5,000 entries, and analyzed, so that the planners decide from real statistics rather than from
empty tables. The late project's rows come after every other row in key order, as a new tenant's
do: a page of them must not walk the primary key past everyone else's, with the parameters' values
(a custom plan) or without (the generic plan PostgreSQL caches for a statement psycopg has prepared).
"""

import re

import psycopg
import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from grafeas_py import create_app, db
from grafeas_py.config import Settings
from grafeas_py.filtering import parse
from grafeas_py.gate.artifacts import artifact_lookup
from grafeas_py.names import NoteRef
from grafeas_py.storage import PageRequest
from grafeas_py.storage.sql import (
    _NOTE_ID_HELD,
    note_occurrences_query,
    notes_query,
    occurrences_query,
    other_kinds_query,
    vulnerability_summary_query,
)
from grafeas_py.storage.sql_auth import audit_entries_query
from grafeas_py.storage.sql_gate import _ARTIFACT_OCCURRENCES, decisions_query
from grafeas_py.storage.sql_history import artifact_history_query
from grafeas_py.storage.tables import audit_log, decisions, history, notes
from grafeas_py.wire.grafeas_types import CODEC, NOTE, OCCURRENCE
from tests.conftest import POSTGRES_URL, _postgres_schema_url
from tests.factories import NOTE_BODIES, occurrence_body

PAGE = PageRequest(size=100)
LATE = "late"  # created last, so its rows follow every other project's in key order
IMAGE = "https://gcr.io/acme/app-{}@sha256:" + "a" * 64
KINDS = ["VULNERABILITY"] * 6 + ["PACKAGE"] * 2 + ["BUILD", "DISCOVERY"]
BY_RESOURCE = "ix_occurrences_project_id_resource_uri_pk"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, worker_id):
    """The SqlStorage over the seeded, analyzed database."""
    if POSTGRES_URL:
        url = _postgres_schema_url(POSTGRES_URL, f"plans_{worker_id}")[0]
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    db.upgrade(url)
    # No background sealer: it would take connections from the pools a test below counts on.
    app = create_app(Settings(database_url=url, audit_seal_seconds=0))
    service = app.extensions["grafeas"].service
    provided = {f"n-{kind}": CODEC.decode(NOTE, NOTE_BODIES[kind]) for kind in set(KINDS)}
    service.batch_create_notes("vendor", provided)
    for start in range(0, 3000, 1000):
        bodies = [
            CODEC.decode(OCCURRENCE, occurrence_body(kind, f"projects/vendor/notes/n-{kind}", IMAGE.format(i % 30)))
            for i in range(start, start + 1000)
            for kind in [KINDS[i % len(KINDS)]]
        ]
        for project in range(10):
            service.batch_create_occurrences(f"p{project}", bodies[project::10])
        service.batch_create_occurrences("big", bodies)
    # The late project: its BUILD occurrences are the only ones of note n-late.
    service.batch_create_notes("vendor", {"n-late": CODEC.decode(NOTE, NOTE_BODIES["BUILD"])})
    late = [
        occurrence_body(kind, f"projects/vendor/notes/{'n-late' if kind == 'BUILD' else f'n-{kind}'}", IMAGE.format(i))
        for i in range(60)
        for kind in [KINDS[i % len(KINDS)]]
    ]
    service.batch_create_occurrences(LATE, [CODEC.decode(OCCURRENCE, body) for body in late])
    engine = app.extensions["grafeas"].storage.engine
    with engine.begin() as conn:
        # Notes and decisions, and an audit trail of 5,000 entries, written as rows: their plans need
        # statistics, not valid documents or a valid chain.
        rows = [_note_row("catalog", i) for i in range(3000)] + [_note_row(LATE, i) for i in range(30)]
        conn.execute(insert(notes), rows)
        rows = [_decision_row("big", i) for i in range(3000)] + [_decision_row(LATE, i) for i in range(30)]
        conn.execute(insert(decisions), rows)
        conn.execute(insert(audit_log), [_audit_row(seq) for seq in range(10**6, 10**6 + 5000)])
        conn.execute(insert(history), [_history_row(i) for i in range(3000)])
        conn.execute(insert(decisions), [_timeline_decision_row(i) for i in range(3000)])
        conn.execute(text("ANALYZE"))
    yield app.extensions["grafeas"].storage
    app.extensions["grafeas"].storage.dispose()


@pytest.fixture(scope="module")
def storage(seeded):
    return seeded.engine


def _note_row(project: str, i: int) -> dict:
    kind = KINDS[i % len(KINDS)]
    data = {"name": f"projects/{project}/notes/n{i}", "kind": kind}
    return dict(project_id=project, note_id=f"n{i}", kind=kind, revision=1, create_time=0, update_time=0, data=data)


def _decision_row(project: str, i: int) -> dict:
    return dict(
        project_id=project,
        decision_id=f"d{i}",
        policy_id=f"policy-{i % 3}",
        policy_revision=1,
        resource_uri=IMAGE.format(i % 30),
        decision="DENY" if i % 10 == 0 else "ALLOW",
        evaluate_time=i,
        data={"name": f"projects/{project}/decisions/d{i}"},
    )


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


def _timeline_decision_row(i: int) -> dict:
    """A decision about one of the artifacts the occurrences are on, for the timeline's plans."""
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


def generic_plan(engine, query) -> str:
    """PostgreSQL's plan for `query` made without its parameters' values: the plan it may cache, and
    reuse for every project, once psycopg has prepared the statement (after five executions)."""
    sent = []
    capture = lambda conn, cursor, statement, params, context, many: sent.append((statement, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            conn.execute(query).all()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = sent[-1]  # as the driver gets them, `%(name)s` placeholders and dumpable values
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", statement).replace("%%", "%")
    with engine.connect() as conn, psycopg.ClientCursor(conn.connection.driver_connection) as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE page AS {numbered}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE page({', '.join(['%s'] * len(names))})", [params[n] for n in names])
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE page")


@pytest.mark.parametrize(
    "filter_, index",
    [
        (f'resourceUrl="{IMAGE.format(7)}"', BY_RESOURCE),
        (f'kind="BUILD" AND resourceUrl="{IMAGE.format(7)}"', BY_RESOURCE),
        ('kind="DISCOVERY"', "ix_occurrences_project_id_"),  # by kind, or in key order: both indexes
        # for these the planners rightly differ (by time, or in key order): any project index serves
        ('createTime > "2100-01-01T00:00:00Z"', "ix_occurrences_project_id_"),
        ("", "ix_occurrences_project_id_pk"),
    ],
)
def test_list_occurrences_uses_an_index(storage, filter_, index):
    found = plan(storage, occurrences_query("p3", PAGE, parse(filter_)))
    assert index in found, found
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


def test_creating_a_note_looks_for_kept_occurrences_of_another_kind_through_the_note_index(storage):
    found = plan(storage, other_kinds_query("vendor", ["n-BUILD", "n-gone"], "BUILD"))
    assert "ix_occurrences_note_project_id_note_id_pk" in found, found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_creating_a_note_that_exists_reads_none_of_its_occurrences(storage):
    """A create of a note that exists (CI jobs make them to be sure of it) is a 409 at once: the search
    for kept occurrences of another kind, which reads every occurrence of the note, is never run."""
    params = {"project_id": "vendor", "note_id": "n-VULNERABILITY", "kind": "VULNERABILITY"}
    with storage.connect() as conn:
        compiled = _NOTE_ID_HELD.compile(dialect=conn.dialect)
        explain = conn.exec_driver_sql(f"EXPLAIN (ANALYZE) {compiled}", {**compiled.params, **params})
        analyzed = "\n".join(row[0] for row in explain)
    scan = next(line for line in analyzed.splitlines() if "occurrences" in line)
    assert "never executed" in scan, analyzed


def test_the_summary_reads_an_occurrences_note_by_its_key(storage):
    """Only for occurrences without a severity of their own, and then one row through the unique index."""
    found = plan(storage, vulnerability_summary_query("p3"))
    assert "ix_notes_project_id_note_id" in found, found
    assert "SCAN notes" not in found and "Seq Scan on notes" not in found, found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_member_equality_uses_the_document_index_on_postgres(storage):
    """A rare value anywhere in the documents is found through the GIN index, not by reading them all."""
    found = plan(storage, occurrences_query("big", PAGE, parse('vulnerability.packageIssue.affectedPackage="zlib"')))
    assert "ix_occurrences_data" in found, found


@pytest.mark.parametrize("uri", [IMAGE.format(7), "gcr.io/acme/app-7"], ids=["by digest", "untagged, and :latest"])
@pytest.mark.parametrize("after", [0, (1_800_000_000_001_500, "m", 1)], ids=["first page", "mid-walk"])
def test_an_artifact_timeline_reads_each_table_in_key_order_from_its_index(storage, after, uri):
    """Under each spelling, and by artifact key for the others, history and decisions give their page
    from their timeline index, current occurrences come from the (project, URI) and (project, key)
    indexes: no table is scanned."""
    query = artifact_history_query("p3", *artifact_lookup(uri), PageRequest(size=100, after=after))
    found = plan(storage, query)
    for index in ("ix_history_timeline", "ix_decisions_timeline", BY_RESOURCE):
        assert index in found, found
    for index in (
        "ix_history_artifact_timeline",
        "ix_decisions_artifact_timeline",
        "ix_occurrences_project_id_artifact_key_pk",
    ):
        assert index in found, found
    assert not re.search(r"Seq Scan|SCAN (history|occurrences|decisions)\b", found), found


def walks_primary_key(found: str, table: str) -> bool:
    """Whether a plan reads `table` through its primary key other than to fetch, one key at a time, the
    rows a page kept: `keyset.within_bytes` looks those up by pk once their sizes have cut the page."""
    lookups = re.findall(rf"pk_{table} on {table}\b[^\n]*\n\s*Index Cond: \(pk = \w+\.pk\)", found)
    return found.count(f"pk_{table}") > len(lookups)


@pytest.mark.parametrize("project", [LATE, "big"])
@pytest.mark.parametrize(
    "filter_",
    ["", 'kind="BUILD"', 'vulnerability.effectiveSeverity="HIGH"', 'createTime > "2000-01-01T00:00:00Z"'],
)
def test_a_project_page_reads_that_projects_rows_only(storage, project, filter_):
    """Through an index that leads with the project, never by walking the primary key past other
    projects' rows (the planner assumes a project's rows spread evenly over it; a tenant's are not)."""
    found = plan(storage, occurrences_query(project, PAGE, parse(filter_)))
    assert not walks_primary_key(found, "occurrences"), found
    assert "ix_occurrences_project_id_" in found or "ix_occurrences_data" in found, found
    assert "SCAN occurrences" not in found and "Seq Scan" not in found, found


@pytest.mark.parametrize("filter_", ["", 'kind="BUILD"'])
def test_a_page_of_notes_reads_that_projects_notes_only(storage, filter_):
    found = plan(storage, notes_query(LATE, PAGE, parse(filter_)))
    assert not walks_primary_key(found, "notes") and "ix_notes_project_id_" in found, found


@pytest.mark.parametrize("filter_", ["", 'decision="DENY"', f'resourceUri="{IMAGE.format(7)}"'])
def test_a_page_of_decisions_reads_that_projects_decisions_only(storage, filter_):
    found = plan(storage, decisions_query(LATE, PAGE, parse(filter_)))
    assert not walks_primary_key(found, "decisions") and "ix_decisions_project_id_" in found, found


@pytest.mark.parametrize("note", ["n-late", "n-BUILD"])
def test_a_page_of_a_notes_occurrences_reads_that_notes_occurrences_only(storage, note):
    found = plan(storage, note_occurrences_query(NoteRef("vendor", note), PAGE, None))
    assert not walks_primary_key(found, "occurrences"), found
    assert "ix_occurrences_note_project_id_note_id_pk" in found, found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
@pytest.mark.parametrize(
    "query, index",
    [
        (occurrences_query(LATE, PAGE), "ix_occurrences_project_id_pk"),
        (notes_query(LATE, PAGE), "ix_notes_project_id_pk"),
        (decisions_query(LATE, PAGE), "ix_decisions_project_id_pk"),
        (note_occurrences_query(NoteRef("vendor", "n-late"), PAGE), "ix_occurrences_note_project_id_note_id_pk"),
    ],
    ids=["occurrences", "notes", "decisions", "note occurrences"],
)
def test_an_unfiltered_page_keeps_to_its_group_in_a_generic_plan_too(storage, query, index):
    """Made without the values, a plan cannot tell a 60-row project from a big one: it must not be
    able to walk the primary key at all (as it did, for every project, before pages were ordered by
    (group, pk) with the group an array comparison)."""
    found = generic_plan(storage, query)
    table = index.split("_")[1]
    assert index in found and not walks_primary_key(found, table), found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_pages_are_planned_with_their_values_every_time(seeded):
    """psycopg prepares a statement once it has run five times, and PostgreSQL may then keep a generic
    plan for it: a page is never prepared (a lookup by key is, which shows that the check sees)."""
    occurrence_id = seeded.list_occurrences(LATE, PAGE).items[0]["name"].rsplit("/", 1)[1]
    seeded._reader.dispose()  # from here on, one request at a time: the pool opens one connection
    for _ in range(8):
        seeded.list_occurrences(LATE, PAGE, parse('noteName="projects/vendor/notes/n-BUILD"'))
        seeded.list_note_occurrences(NoteRef("vendor", "n-late"), PAGE)
        seeded.get_occurrence(LATE, occurrence_id)
    with seeded._reader.connect() as conn:  # the connection that ran them
        prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("occurrences.occurrence_id = " in statement for statement in prepared), prepared
    assert not any("ORDER BY occurrences." in statement for statement in prepared), prepared


@pytest.mark.parametrize("project", ["p3", "big"])
def test_a_prefix_of_resource_uris_is_a_range_of_their_index(storage, project):
    """has_prefix(resourceUrl, ...) compiled to LIKE, which no index served: one artifact's prefix read the project."""
    found = plan(
        storage, occurrences_query(project, PAGE, parse(f'has_prefix(resourceUrl, "{IMAGE.format(7)[:-64]}")'))
    )
    assert "ix_occurrences_project_id_resource_uri_pk" in found, found
    assert ("resource_uri ~>=~" if POSTGRES_URL else "resource_uri>?") in found, found


def test_a_range_of_resource_uris_in_code_point_order_is_a_range_of_their_index(storage):
    """On PostgreSQL `<` `<=` `>` `>=` on text compare by code point, with text_pattern_ops's operators,
    which the resource URI index has: `<` in the database's collation was a filter after another index."""
    filter_ = f'resourceUri >= "{IMAGE.format(7)}" AND resourceUri < "{IMAGE.format(8)}"'
    found = plan(storage, occurrences_query("p3", PAGE, parse(filter_)))
    assert BY_RESOURCE in found, found
    assert ("resource_uri ~>=~" if POSTGRES_URL else "resource_uri>?") in found, found


@pytest.mark.parametrize("uri", [IMAGE.format(7), "gcr.io/acme/app-7"], ids=["by digest", "untagged, and :latest"])
def test_the_gate_reads_an_artifacts_occurrences_by_its_uri_and_its_key(storage, uri):
    """By the (project, URI) index for each spelling, and by the (project, artifact key) index for those
    stored under others, never by scanning a project."""
    uris, keys = artifact_lookup(uri)
    params = {"projects": ["p3", LATE], "resource_uris": uris, "artifact_keys": keys, "limit": 20001}
    found = plan(storage, _ARTIFACT_OCCURRENCES.params(params))
    assert BY_RESOURCE in found and "ix_occurrences_project_id_artifact_key_pk" in found, found
    assert not re.search(r"Seq Scan|SCAN occurrences\b", found), found


@pytest.mark.parametrize(
    "filter_, index",
    [
        ('has_prefix(resource, "projects/p3/occurrences/100001")', "ix_audit_log_resource_seq"),
        ('principal >= "user:dev-7@" AND principal < "user:dev-7A"', "ix_audit_log_principal_seq"),
    ],
)
def test_a_prefix_or_range_of_audit_resources_or_principals_is_a_range_of_their_index(storage, filter_, index):
    """Everything done within a project or by a team: on PostgreSQL the trail was read whole, since
    its indexes were of the default operator class, which serves no range by code point (0016)."""
    found = plan(storage, audit_entries_query(PAGE, parse(filter_)))
    assert index in found, found
    assert not re.search(r"Seq Scan|SCAN audit_log\b", found), found


@pytest.mark.parametrize("project, field", [("p3", "resourceUri"), ("big", "resourceUri"), ("p3", "policyId")])
def test_a_prefix_of_decisions_resource_uris_or_policies_is_a_range_of_their_index(storage, project, field):
    prefix = {"resourceUri": IMAGE.format(7)[:-64], "policyId": "policy-1"}[field]
    found = plan(storage, decisions_query(project, PAGE, parse(f'has_prefix({field}, "{prefix}")')))
    column = {"resourceUri": "resource_uri", "policyId": "policy_id"}[field]
    assert f"ix_decisions_project_id_{column}_pk" in found, found
    assert not re.search(r"Seq Scan|SCAN decisions\b", found), found


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_a_prefix_of_note_ids_is_a_range_of_the_note_index(storage):
    """SQLite rightly walks the project's rows here; PostgreSQL could not use the note index at all."""
    found = plan(storage, occurrences_query("p3", PAGE, parse('noteProjectId="vendor" AND has_prefix(noteId, "n-B")')))
    assert "ix_occurrences_note_project_id_note_id_pk" in found, found
    assert "note_id ~>=~" in found, found
