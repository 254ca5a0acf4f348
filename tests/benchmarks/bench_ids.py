"""What time-ordered occurrence ids save as a database grows: storage time of a batch of 1000.

    python tests/benchmarks/bench_ids.py [--db sqlite postgres] [--batches 150]

Two fresh databases migrated to head take the same batches (the body bench_core.py posts), one
with random ids (UUID version 4, as the server made them before) and one with the server's own
`new_ids` (version 7: Unix milliseconds first), alternating batch by batch so drift hits both alike.
It prints the median time SqlStorage.create_occurrences takes per batch in the first and the last
third of the run: random ids land on random pages of the (project, id) index, whose pages fall out
of the cache as it grows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch_split import NOTE_DOC, batch_payload, python_side  # noqa: E402
from bench_core import drop_schemas, fresh_database  # noqa: E402

from grafeas_py import db  # noqa: E402
from grafeas_py.names import _VARIANT_DIGIT, new_ids  # noqa: E402
from grafeas_py.server import tune_gc  # noqa: E402
from grafeas_py.storage.engine import make_engines  # noqa: E402
from grafeas_py.storage.sql import SqlStorage  # noqa: E402


def random_id() -> str:
    """A UUID version 4, formatted as the server formatted them before version 7."""
    digits = os.urandom(16).hex()
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{_VARIANT_DIGIT[digits[16]]}{digits[17:20]}-{digits[20:]}"


def bench(kind: str, batches: int, workdir: Path, schemas: list[str]) -> dict[str, list[float]]:
    stores = {}
    for label in ("random (v4)", "time-ordered (v7)"):
        url, schema = fresh_database(kind, workdir)
        schemas += [schema] if schema else []
        db.upgrade(url)
        stores[label] = SqlStorage(*make_engines(url))
        stores[label].create_notes("bench", {"CVE-2024-0001": NOTE_DOC})  # the note every batch item names
    makers = {"random (v4)": lambda n: [random_id() for _ in range(n)], "time-ordered (v7)": new_ids}
    payload = batch_payload()
    times: dict[str, list[float]] = {label: [] for label in stores}
    try:
        for _ in range(batches):
            for label, storage in stores.items():
                prepared = python_side(payload, makers[label])
                start = time.perf_counter()
                storage.create_occurrences("bench", prepared)
                times[label].append(time.perf_counter() - start)
    finally:
        for storage in stores.values():
            storage.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--batches", type=int, default=150, help="batches of 1000 written to each database")
    args = parser.parse_args()
    tune_gc()  # as gunicorn's workers run
    schemas: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                times = bench(kind, args.batches, Path(tmp), schemas)
                third = args.batches // 3
                print(f"[{kind}] median ms to store a batch of 1000, first third / last third of {args.batches}:")
                for label, t in times.items():
                    first, last = statistics.median(t[:third]), statistics.median(t[-third:])
                    print(f"  {label:18s} {1000 * first:6.1f} / {1000 * last:6.1f}")
        finally:
            drop_schemas(schemas)


if __name__ == "__main__":
    main()
