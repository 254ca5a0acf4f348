"""Prefix filters on PostgreSQL's text key columns, with their indexes in code point order and without.

    python tests/benchmarks/bench_prefix_filters.py [--rows 1000000] [--repeat 20]

Seeds a fresh schema, migrated to head, with `--rows` audit entries (1,000 projects, 500
principals) and as many gate decisions in one project (2,000 image repositories), analyzed, then
times one page (100) of each query below, as the server sends it, median of `--repeat`: first with
the indexes as migration 0016 makes them (text_pattern_ops, which serves has_prefix's code point
range), then with each rebuilt in the default operator class, which serves equality only, as before
0016. PostgreSQL only: SQLite's BINARY collation is code point order already. PostgreSQL at
GRAFEAS_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import drop_schemas, fresh_database  # noqa: E402

from grafeas_py import db  # noqa: E402
from grafeas_py.filtering import parse  # noqa: E402
from grafeas_py.storage import PageRequest  # noqa: E402
from grafeas_py.storage.sql_auth import audit_entries_query  # noqa: E402
from grafeas_py.storage.sql_gate import decisions_query  # noqa: E402

PAGE = PageRequest(size=100)
QUERIES = {
    'audit: has_prefix(resource, "projects/p7/")': (
        "ix_audit_log_resource_seq",
        audit_entries_query(PAGE, parse('has_prefix(resource, "projects/p7/")')),
    ),
    'audit: has_prefix(principal, "user:dev-7@")': (
        "ix_audit_log_principal_seq",
        audit_entries_query(PAGE, parse('has_prefix(principal, "user:dev-7@")')),
    ),
    'decisions: has_prefix(resourceUri, "https://gcr.io/acme/app-7@")': (
        "ix_decisions_project_id_resource_uri_pk",
        decisions_query("prod", PAGE, parse('has_prefix(resourceUri, "https://gcr.io/acme/app-7@")')),
    ),
}
# Each index as 0016 found it: (table, its columns).
DEFAULT_CLASS = {
    "ix_audit_log_resource_seq": ("audit_log", "resource, seq"),
    "ix_audit_log_principal_seq": ("audit_log", "principal, seq"),
    "ix_decisions_project_id_resource_uri_pk": ("decisions", "project_id, resource_uri, pk"),
}


def seed(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, time, principal, action, resource, detail, prev_hash, hash)"
                " SELECT g, '2026-11-29T00:00:00Z', 'user:dev-' || (g % 500) || '@example.com',"
                " 'occurrences.update', 'projects/p' || (g % 1000) || '/occurrences/' || g, '{}',"
                " repeat('0', 64), repeat('0', 64) FROM generate_series(1, :rows) g"
            ),
            {"rows": rows},
        )
        conn.execute(
            text(
                "INSERT INTO decisions (project_id, decision_id, policy_id, policy_revision, resource_uri,"
                " decision, evaluate_time, data)"
                " SELECT 'prod', 'd' || g, 'policy', 1,"
                " 'https://gcr.io/acme/app-' || (g % 2000) || '@sha256:' || md5(g::text) || md5(g::text),"
                " 'ALLOW', g, '{}' FROM generate_series(1, :rows) g"
            ),
            {"rows": rows},
        )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(engine, repeat: int) -> dict[str, float]:
    """Median ms of each query's page, fetched."""
    medians = {}
    with engine.connect() as conn:
        for name, (_, query) in QUERIES.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                conn.execute(query).all()
                times.append(time.perf_counter() - start)
            medians[name] = 1000 * statistics.median(times)
    return medians


def to_default_class(engine) -> None:
    with engine.begin() as conn:
        for index, (table, columns) in DEFAULT_CLASS.items():
            conn.execute(text(f"DROP INDEX {index}"))
            conn.execute(text(f"CREATE INDEX {index} ON {table} ({columns})"))
        conn.execute(text("ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="audit entries, and as many decisions")
    parser.add_argument("--repeat", type=int, default=20, help="timings of each query, of which the median")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = fresh_database("postgres", Path(tmp))
        try:
            db.upgrade(url)
            engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            seed(engine, args.rows)
            by_code_point = timed(engine, args.repeat)
            to_default_class(engine)
            default = timed(engine, args.repeat)
            engine.dispose()
        finally:
            drop_schemas([schema])
    print(f"[postgres] one page of 100 at {args.rows:,} rows, median of {args.repeat}")
    for name in QUERIES:
        print(f"  {name}: {by_code_point[name]:.2f} ms; default class {default[name]:.2f} ms")


if __name__ == "__main__":
    main()
