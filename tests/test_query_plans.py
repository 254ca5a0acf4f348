"""The common filters are served by an index, on SQLite and on PostgreSQL (read from the plans)."""

import pytest

from grafeas_py.filtering import parse
from grafeas_py.names import NoteRef
from grafeas_py.storage import PageRequest
from grafeas_py.storage.sql import note_occurrences_query, occurrences_query

PAGE = PageRequest(size=100)
IMAGE = "https://gcr.io/acme/app@sha256:" + "a" * 64


def plan(app, query) -> str:
    """The plan's text; PostgreSQL is told to avoid sequential scans, since test tables are tiny and
    a scan would win there: what is checked is that an index can serve the query at all."""
    engine = app.extensions["grafeas"].storage.engine
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


@pytest.mark.parametrize(
    "filter_, index",
    [
        (f'resourceUrl="{IMAGE}"', "ix_occurrences_project_id_resource_uri_pk"),
        (f'kind="VULNERABILITY" AND resourceUrl="{IMAGE}"', "ix_occurrences_project_id_"),  # either serves it
        ('kind="VULNERABILITY"', "ix_occurrences_project_id_kind_pk"),
        ('createTime > "2024-01-01T00:00:00Z"', "ix_occurrences_project_id_"),
        ("", "ix_occurrences_project_id_pk"),
    ],
)
def test_list_occurrences_uses_an_index(app, filter_, index):
    text = plan(app, occurrences_query("p", PAGE, parse(filter_)))
    assert index in text, text
    assert "SCAN occurrences" not in text and "Seq Scan" not in text, text


def test_list_note_occurrences_uses_the_note_index(app):
    text = plan(app, note_occurrences_query(NoteRef("vendor", "CVE-1"), PAGE, None))
    assert "ix_occurrences_note_project_id_note_id_pk" in text, text
