"""Prefix filters on PostgreSQL's text key columns, with their indexes in code point order and without.

    python tests/benchmarks/bench_prefix_filters.py [--rows 1000000] [--repeat 20]

Seeds a fresh schema, migrated to head, with `--rows` audit entries (1,000 projects, 500
principals) and as many gate decisions in one project (2,000 image repositories), analyzed, then
times one page (100) of each query below, as the server sends it, median of `--repeat`: first with
the indexes as migration 0016 makes them (text_pattern_ops, which serves has_prefix's code point
range), then downgraded to 0015, whose indexes are of the default operator class, which serves
equality only. Last it times the upgrade back to head: what 0016 costs an upgrade at this size.
PostgreSQL only: SQLite's BINARY collation is code point order already. PostgreSQL at
GRAFEAS_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from alembic import command
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
    'audit: has_prefix(resource, "projects/p7/")': audit_entries_query(
        PAGE, parse('has_prefix(resource, "projects/p7/")')
    ),
    'audit: has_prefix(principal, "user:dev-7@")': audit_entries_query(
        PAGE, parse('has_prefix(principal, "user:dev-7@")')
    ),
    'decisions: has_prefix(resourceUri, "https://gcr.io/acme/app-7@")': decisions_query(
        "prod", PAGE, parse('has_prefix(resourceUri, "https://gcr.io/acme/app-7@")')
    ),
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
        for name, query in QUERIES.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                conn.execute(query).all()
                times.append(time.perf_counter() - start)
            medians[name] = 1000 * statistics.median(times)
    return medians


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
            command.downgrade(db.alembic_config(url), "0015")
            default = timed(engine, args.repeat)
            engine.dispose()
            start = time.perf_counter()
            db.upgrade(url)
            upgrade = time.perf_counter() - start
        finally:
            drop_schemas([schema])
    print(f"[postgres] one page of 100 at {args.rows:,} rows, median of {args.repeat}")
    for name in QUERIES:
        print(f"  {name}: {by_code_point[name]:.2f} ms; at 0015 (default class) {default[name]:.2f} ms")
    print(f"  upgrade 0015 -> head: {upgrade:.1f} s")


if __name__ == "__main__":
    main()
