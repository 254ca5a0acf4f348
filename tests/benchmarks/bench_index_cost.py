"""What the occurrences table's indexes cost one batch of 1000 on SQLite, with no Python in the timing.

    python tests/benchmarks/bench_index_cost.py [--batches 30]

bench_core.py (b) allows a batch of 1000 at most 1000 / (0.3 x bulk_ceiling rows/s): the budget.
This writes the rows SqlStorage.create_occurrences would write (the body bench_core.py posts,
prepared and JSON-encoded before the clock starts) through the raw sqlite3 connection, tuned as the
server tunes it: BEGIN IMMEDIATE, one executemany, COMMIT, batch after batch into a fresh database
migrated to head. It does so first with every index the schema has, then with the secondary indexes
dropped one at a time (last first), each in a fresh database, and prints the median per batch
against the budget measured in the same run: the database's own share of a batch at our schema,
before any request, decoding or validation.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch_split import GOAL, batch_payload, python_side  # noqa: E402
from bench_core import bulk_ceiling, fresh_database  # noqa: E402

from grafeas_py import db  # noqa: E402
from grafeas_py.server import tune_gc  # noqa: E402
from grafeas_py.storage.engine import dumps_json, make_engines  # noqa: E402
from grafeas_py.storage.sql import _occurrence_rows  # noqa: E402

# The secondary indexes the migrations make on SQLite, in the order they were made. The unique
# (project_id, occurrence_id) index stays: ids must stay unique, it is not a choice.
_SECONDARY = (
    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'occurrences'"
    " AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY rowid"
)


def batch_rows(payload: bytes) -> tuple[list[str], list[tuple]]:
    """The columns and values of one batch's rows, with new ids, as _insert_many hands them to sqlite3."""
    rows = list(_occurrence_rows("bench", python_side(payload)))
    columns = list(rows[0])
    return columns, [tuple(dumps_json(r[c]) if c == "data" else r[c] for c in columns) for r in rows]


def migrated(workdir: Path):
    """The write engine and reader of a fresh SQLite database migrated to head."""
    url, _ = fresh_database("sqlite", workdir)
    db.upgrade(url)
    return make_engines(url)


def secondary_indexes(workdir: Path) -> list[str]:
    engine, reader = migrated(workdir)
    with engine.connect() as conn:
        names = list(conn.exec_driver_sql(_SECONDARY).scalars())
    engine.dispose()
    reader.dispose()
    return names


def per_batch_ms(workdir: Path, dropped: list[str], batches: list[tuple[list[str], list[tuple]]]) -> float:
    """Median ms per batch of writing `batches` into a fresh database without the `dropped` indexes."""
    engine, reader = migrated(workdir)
    conn = engine.raw_connection()  # the server's pragmas; no SQLAlchemy in the timing
    try:
        cursor = conn.cursor()
        for name in dropped:
            cursor.execute(f"DROP INDEX {name}")
        times = []
        for columns, values in batches:
            statement = f"INSERT INTO occurrences ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            start = time.perf_counter()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(statement, values)
            cursor.execute("COMMIT")
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
        engine.dispose()
        reader.dispose()
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30, help="batches of 1000 written per configuration")
    parser.add_argument(
        "--artifacts", type=int, default=1000, help="resource URIs a batch spreads over [default: 1000, as bench_core]"
    )
    args = parser.parse_args()
    payload = batch_payload(args.artifacts)
    batches = [batch_rows(payload) for _ in range(args.batches)]
    tune_gc()  # as gunicorn's workers run
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ceiling_url, _ = fresh_database("sqlite", workdir)
        secondary = secondary_indexes(workdir)
        budgets, results = [], []
        for kept in range(len(secondary), -1, -1):
            budgets.append(1000 * 1000 / (GOAL * bulk_ceiling(ceiling_url, 20000)))  # ms
            dropped = secondary[kept:]
            results.append((dropped, per_batch_ms(workdir, dropped, batches)))
    budget = statistics.median(budgets)
    print(f"[sqlite] budget for one batch of 1000 at {GOAL} x bulk_ceiling: {budget:.1f} ms")
    print(f"  {args.batches} batches per configuration, each over {args.artifacts} resource URIs")
    for dropped, ms in results:
        label = f"also without {dropped[0]}" if dropped else "every index of the schema"
        print(f"  {ms:6.1f} ms ({ms / budget:4.0%} of it)  {label}")


if __name__ == "__main__":
    main()
