"""Ingesting a 10,000-finding Trivy report with `grafeas-py ingest` against a local server (goal: <= 10 s).

    python tests/benchmarks/bench_ingest.py [--db sqlite postgres] [--findings 10000] [--rounds 3]

The server runs under gunicorn with deploy/gunicorn.conf.py on a fresh database; the report comes
from tests/fixtures/generate_trivy_report.py. Each round times the whole command (parse, notes,
batches of 1000) into a fresh project; a last run repeats the newest round's ingestion to time the
idempotent path, where every occurrence already exists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_core import BIN, ROOT, drop_schemas, free_port, fresh_database, gunicorn  # noqa: E402
from tests.fixtures.generate_trivy_report import DIGEST, write_report  # noqa: E402

IMAGE = f"https://registry.example.com/big/app@sha256:{DIGEST}"


def ingest(base: str, report: Path, project: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "grafeas-py"), "ingest", "trivy", str(report), "--project", project, "--resource", IMAGE],
        env={**os.environ, "GRAFEAS_URL": base},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, out.stdout.strip()


def bench(kind: str, args, workdir: Path, schemas: list[str]) -> dict:
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    env = {"GRAFEAS_DATABASE_URL": url}
    subprocess.run([str(BIN / "grafeas-py"), "db", "upgrade"], env={**os.environ, **env}, check=True)
    report = write_report(workdir / "trivy-10k.json", args.findings)
    with gunicorn("grafeas_py:create_app()", free_port(), env, ROOT, args.workers, 4) as base:
        times, summary = [], ""
        for i in range(args.rounds):
            seconds, summary = ingest(base, report, f"bench-{i}")
            times.append(seconds)
        again, again_summary = ingest(base, report, f"bench-{args.rounds - 1}")
    return {"database": kind, "times": times, "summary": summary, "again": again, "again_summary": again_summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    schemas: list[str] = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                results.append(bench(kind, args, Path(tmp), schemas))
        finally:
            drop_schemas(schemas)
    for r in results:
        print(
            f"[{r['database']}] {args.findings:,} findings: median {statistics.median(r['times']):.2f} s"
            f" (rounds {', '.join(f'{t:.2f}' for t in r['times'])}; goal <= 10 s)"
        )
        print(f"  {r['summary']}")
        print(f"  again, all present: {r['again']:.2f} s: {r['again_summary']}")


if __name__ == "__main__":
    main()
