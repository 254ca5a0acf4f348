"""Copying a VEX document onto an artifact's findings, against a rescan that updates as many.

    python tests/benchmarks/bench_vex.py [--db sqlite postgres] [--findings 5000 10000] [--rounds 3]

For each size N, on a fresh database under gunicorn (deploy/gunicorn.conf.py), each round posts into a
fresh project a generated Trivy report of N findings (tests/fixtures/generate_trivy_report.py), then:
- an OpenVEX document of one statement per finding (its vulnerability, in its package), which updates
  all N findings: the time measured;
- a rescan changing every finding's severity, which updates all N too: the ceiling it is set against,
  as the same number of updates of the same rows by the path every scan takes;
- the OpenVEX document again, which finds every copy in place and writes nothing.
The ratio VEX / rescan should stay near 1 whatever N, and VEX time should double when N does: the copy
was quadratic in the number of assessments and findings before they were indexed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_core import BIN, ROOT, drop_schemas, free_port, fresh_database, gunicorn  # noqa: E402
from tests.fixtures.generate_trivy_report import DIGEST, trivy_report  # noqa: E402

IMAGE = f"https://registry.example.com/big/app@sha256:{DIGEST}"


def openvex(report: dict) -> bytes:
    """One not_affected statement per finding of `report`, limited to the finding's package."""
    statements = [
        {
            "vulnerability": {"name": finding["VulnerabilityID"]},
            "products": [
                {"@id": f"pkg:oci/app@sha256%3A{DIGEST}", "subcomponents": [{"@id": finding["PkgIdentifier"]["PURL"]}]}
            ],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }
        for result in report["Results"]
        for finding in result["Vulnerabilities"]
    ]
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://vex.example.com/bench",
        "author": "bench",
        "timestamp": "2024-12-03T10:00:00Z",
        "version": 1,
        "statements": statements,
    }
    return json.dumps(doc).encode()


def rescanned(report: dict) -> bytes:
    """The report with every finding at another severity, so that a rescan updates each of them."""
    changed = json.loads(json.dumps(report))
    for result in changed["Results"]:
        for finding in result["Vulnerabilities"]:
            finding["Severity"] = "CRITICAL" if finding["Severity"] != "CRITICAL" else "LOW"
    return json.dumps(changed).encode()


def post(base: str, project: str, fmt: str, body: bytes) -> tuple[float, dict]:
    start = time.perf_counter()
    r = requests.post(
        f"{base}/v1/projects/{project}/occurrences:ingest", params={"format": fmt, "resourceUri": IMAGE}, data=body
    )
    seconds = time.perf_counter() - start
    r.raise_for_status()
    return seconds, r.json()


def bench(kind: str, args, workdir: Path, schemas: list[str]) -> list[dict]:
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    env = {"GRAFEAS_DATABASE_URL": url}
    subprocess.run([str(BIN / "grafeas-py"), "db", "upgrade"], env={**os.environ, **env}, check=True)
    rows = []
    with gunicorn("grafeas_py:create_app()", free_port(), env, ROOT, args.workers, 4) as base:
        for n in args.findings:
            report = trivy_report(n)
            scan, vex, rescan = json.dumps(report).encode(), openvex(report), rescanned(report)
            times: dict[str, list[float]] = {"vex": [], "rescan": [], "again": []}
            for i in range(args.rounds):
                project = f"vex-{n}-{i}"
                post(base, project, "trivy", scan)
                seconds, summary = post(base, project, "openvex", vex)
                assert summary["updated"] == n, summary
                times["vex"].append(seconds)
                seconds, summary = post(base, project, "trivy", rescan)
                assert summary["updated"] == n, summary
                times["rescan"].append(seconds)
                seconds, summary = post(base, project, "openvex", vex)
                assert summary["updated"] == 0, summary
                times["again"].append(seconds)
            rows.append({"database": kind, "n": n, **{k: statistics.median(v) for k, v in times.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--findings", nargs="+", type=int, default=[5000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    schemas: list[str] = []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                rows += bench(kind, args, Path(tmp), schemas)
        finally:
            drop_schemas(schemas)
    for row in rows:
        print(
            f"[{row['database']}] {row['n']:,} findings, {row['n']:,} assessments: VEX {row['vex']:.2f} s, "
            f"rescan {row['rescan']:.2f} s (VEX / rescan {row['vex'] / row['rescan']:.2f}), "
            f"VEX again {row['again']:.2f} s"
        )
    for kind in args.db:
        sized = [row for row in rows if row["database"] == kind]
        for smaller, larger in zip(sized, sized[1:], strict=False):
            grown = larger["n"] / smaller["n"]
            took = larger["vex"] / smaller["vex"]
            print(f"[{kind}] {grown:.1f}x the findings: VEX took {took:.2f}x as long (linear: {grown:.1f}x)")


if __name__ == "__main__":
    main()
