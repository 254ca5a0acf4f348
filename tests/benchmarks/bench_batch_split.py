"""Where one BatchCreateOccurrences of 1000 spends its time, against the time that goal (b) allows.

    python tests/benchmarks/bench_batch_split.py [--db sqlite postgres] [--batches 30] [--rounds 3]

bench_core.py (b) asks a batch of 1000 over HTTP for at least 0.3 x the rows/s of
shared/bench/bulk_ceiling.py (20,000 rows), so at most 1000 / (0.3 x ceiling) seconds per batch:
the budget. In process, on a fresh database migrated to head, this times the batch's two halves
separately, alternating with the ceiling:
- python: what the route does without a database: parse the 600 KB body, decode and validate
  each item (ids, names, times) and encode the 1 MB response;
- storage: SqlStorage.create_occurrences of those prepared items (the insert into the
  occurrences table and its indexes, the audit entry, the commit), as the database grows batch by
  batch the way it does under bench_core.py. The mean includes SQLite's periodic checkpoints;
  bench_core.py takes medians;
- request: the whole BatchCreateOccurrences route in process (Flask's test client: no HTTP, no
  gunicorn), its wall time and the CPU time of the thread that serves it.
On SQLite the two halves run one after the other in a request; on PostgreSQL the server indexes the
rows while Python still decodes the rest, so there a request takes less than their sum, and the
request's CPU time is what bounds it. Every batch names 1000 artifacts no batch named before, as
bench_core.py's do: the server caches what it derives from a URI.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import NOTE, bulk_ceiling, drop_schemas, fresh_database, occurrence_body  # noqa: E402

from grafeas_py import create_app, db  # noqa: E402
from grafeas_py.api.http import decode  # noqa: E402
from grafeas_py.config import Settings  # noqa: E402
from grafeas_py.names import new_ids  # noqa: E402
from grafeas_py.server import tune_gc  # noqa: E402
from grafeas_py.service import Grafeas, _now  # noqa: E402
from grafeas_py.storage.engine import make_engines  # noqa: E402
from grafeas_py.storage.sql import SqlStorage  # noqa: E402
from grafeas_py.wire.grafeas_types import OCCURRENCE  # noqa: E402

GOAL = 0.3
NOTE_DOC = {
    "name": NOTE,
    "kind": "VULNERABILITY",
    "createTime": "2026-01-01T00:00:00Z",
    "updateTime": "2026-01-01T00:00:00Z",
    "vulnerability": {"severity": "HIGH", "details": [{"affectedCpeUri": "cpe:/o:x", "affectedPackage": "openssl"}]},
}


def batch_payload(artifacts: int = 1000, batch: int = 0) -> bytes:
    """The body bench_core.py posts: 1000 copies of occ.json, each for its own artifact (or spread
    over fewer `artifacts`: bulk_ceiling.py's rows name 100), artifacts no other `batch` names."""
    body = occurrence_body()
    items = [dict(body, resourceUri=f"{body['resourceUri']}-{batch}-{i % artifacts}") for i in range(1000)]
    return orjson.dumps({"occurrences": items})


def python_side(payload: bytes, make_ids=new_ids) -> list:
    """The request's work without its database: parse, decode, validate and prepare, encode."""
    items = orjson.loads(payload)["occurrences"]
    now = _now()
    ids = make_ids(len(items))
    prepared = [
        Grafeas._new_occurrence("bench", decode(OCCURRENCE, item, f"occurrences[{i}]"), now, ids[i])
        for i, item in enumerate(items)
    ]
    orjson.dumps({"occurrences": [occ.data for occ in prepared]})
    return prepared


def timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def request_times(client, payload: bytes) -> tuple[float, float]:
    """(wall, CPU) seconds of one BatchCreateOccurrences through the app, in this thread."""
    wall, cpu = time.perf_counter(), time.thread_time()
    response = client.post("/v1/projects/bench/occurrences:batchCreate", data=payload, content_type="application/json")
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    if response.status_code != 200:
        raise SystemExit(f"the batch failed: {response.status_code} {response.get_data(as_text=True)[:500]}")
    return wall, cpu


def bench(kind: str, args, workdir: Path, schemas: list[str]) -> dict:
    ceiling_url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    db.upgrade(url)
    storage = SqlStorage(*make_engines(url))
    storage.create_notes("bench", {"CVE-2024-0001": NOTE_DOC})  # the note every batch item names
    app = create_app(Settings(database_url=url, audit_seal_seconds=0))  # no sealer thread in the timings
    client = app.test_client()
    batches = itertools.count()
    tune_gc()  # as gunicorn's workers run
    python_times, storage_times, request_wall, request_cpu, budgets = [], [], [], [], []
    try:
        request_times(client, batch_payload(batch=next(batches)))  # warm: statements are prepared on first use
        per_round = max(1, args.batches // args.rounds)
        for _ in range(args.rounds):
            ceiling = bulk_ceiling(ceiling_url.replace("postgresql://", "postgresql+psycopg://", 1), 20000)
            budgets.append(1000 / (GOAL * ceiling))
            for _ in range(per_round):
                payload = batch_payload(batch=next(batches))
                seconds, prepared = timed(lambda p=payload: python_side(p))
                python_times.append(seconds)
                storage_times.append(timed(lambda p=prepared: storage.create_occurrences("bench", p))[0])
                wall, cpu = request_times(client, batch_payload(batch=next(batches)))
                request_wall.append(wall)
                request_cpu.append(cpu)
    finally:
        storage.dispose()
        app.extensions["grafeas"].storage.dispose()
    return {
        "database": kind,
        "budget_ms": 1000 * statistics.median(budgets),
        "python_ms": (1000 * statistics.median(python_times), 1000 * statistics.mean(python_times)),
        "storage_ms": (1000 * statistics.median(storage_times), 1000 * statistics.mean(storage_times)),
        "request_ms": (1000 * statistics.median(request_wall), 1000 * statistics.mean(request_wall)),
        "request_cpu_ms": 1000 * statistics.median(request_cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--batches", type=int, default=30, help="batches of 1000 written per database")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling runs, each followed by batches/rounds batches")
    args = parser.parse_args()
    schemas: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            results = [bench(kind, args, Path(tmp), schemas) for kind in args.db]
        finally:
            drop_schemas(schemas)
    for r in results:
        budget = r["budget_ms"]
        print(f"[{r['database']}] budget for one batch of 1000 at {GOAL} x bulk_ceiling: {budget:.1f} ms")
        for part in ("python", "storage"):
            median, mean = r[f"{part}_ms"]
            print(f"  {part:8s} median {median:6.1f} ms ({median / budget:4.0%} of it), mean {mean:6.1f} ms")
        total = r["python_ms"][0] + r["storage_ms"][0]
        print(f"  sum of medians {total:.1f} ms: {total / budget:.0%} of the budget")
        median, mean = r["request_ms"]
        print(
            f"  request  median {median:6.1f} ms ({median / budget:4.0%} of it), mean {mean:6.1f} ms;"
            f" CPU median {r['request_cpu_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
