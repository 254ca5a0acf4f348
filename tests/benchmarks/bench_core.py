"""Core throughput and latency, as ratios against the ceilings in ../shared/bench measured in the same run.

    python tests/benchmarks/bench_core.py [--db sqlite postgres] [--duration 6] [--rounds 3]

(a) CreateOccurrence requests/s under gunicorn vs shared/bench/minimal_app.py under the same
    gunicorn settings and database (goal: >= 0.7), both servers up, wrk runs alternating;
(b) one BatchCreateOccurrences of 1000 over HTTP, rows/s, vs shared/bench/bulk_ceiling.py of
    20,000 rows (goal: >= 0.3), each side after SETTLE_SECONDS idle; also shown, for reference, the
    ceiling for 1000 rows;
(c) GetOccurrence latency p50/p99 from one keep-alive connection.
Needs `wrk` (apt-get install wrk) and gunicorn; PostgreSQL at GRAFEAS_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/test), where each run uses fresh schemas; the ceilings
at GRAFEAS_BENCH_SHARED (default ../shared/bench beside this checkout).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
# The ceilings live beside the checkout; a clone elsewhere (a worktree, CI's copy) names them.
SHARED_BENCH = Path(os.environ.get("GRAFEAS_BENCH_SHARED") or ROOT.parent / "shared" / "bench")
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("GRAFEAS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOTE = "projects/bench/notes/CVE-2024-0001"
_MINIMAL_APP_TABLE = "create table if not exists occ (id text primary key, project text, resource_uri text, body text)"


def occurrence_body() -> dict:
    """shared/bench/occ.json, made valid for the upstream rules (a NORMAL fix names its package)."""
    body = json.loads((SHARED_BENCH / "occ.json").read_text())
    body["noteName"] = NOTE
    issue = body["vulnerability"]["packageIssue"][0]
    issue.setdefault("fixedCpeUri", issue["affectedCpeUri"])
    issue.setdefault("fixedPackage", issue["affectedPackage"])
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(kind: str, workdir: Path) -> tuple[str, str | None]:
    """A new empty database: a SQLite file, or a PostgreSQL schema (URL, schema)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'{uuid.uuid4().hex[:8]}.db'}", None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", schema


def drop_schemas(schemas: list[str]) -> None:
    if not schemas:
        return
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@contextmanager
def gunicorn(app: str, port: int, env: dict, cwd: Path, workers: int, threads: int):
    """gunicorn with deploy/gunicorn.conf.py (as production runs it, for both apps alike); yields its
    base URL once it answers."""
    cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    cmd += ["-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{port}", app]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode()) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def wrk(url: str, workdir: Path, duration: int, connections: int, script: bool, threads: int = 2) -> dict:
    """Run wrk (POSTing occ.json from workdir when `script`) and parse requests/s and latencies."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", str(SHARED_BENCH / "post.lua")]
    out = subprocess.run(cmd + [url], cwd=workdir, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    return {
        "rps": rps,
        "non2xx": int(errors.group(1)) if errors else 0,
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bench_database(kind: str, args, workdir: Path, schemas: list[str]) -> dict:
    """All three measurements on one kind of database.

    This machine's disk and CPU are shared and drift, so each ratio pairs runs made back to back:
    `--rounds` pairs of (ceiling, ours), and the median of the per-pair ratios is reported.
    """
    body = occurrence_body()
    (workdir / "occ.json").write_text(json.dumps(body))
    ceiling_url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    ceiling_db = ceiling_url.replace("postgresql://", "postgresql+psycopg://", 1)
    # minimal_app makes its table as each worker imports it; five SQLite workers doing that at once can
    # fail one ("database is locked") and stop gunicorn, so the same statement runs here first.
    ceiling = create_engine(ceiling_db)
    with ceiling.begin() as conn:
        conn.execute(text(_MINIMAL_APP_TABLE))
    ceiling.dispose()
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    env = {"GRAFEAS_DATABASE_URL": url}
    subprocess.run([str(BIN / "grafeas-py"), "db", "upgrade"], env={**os.environ, **env}, check=True)
    minimal = gunicorn("minimal_app:app", free_port(), {"DB": ceiling_db}, SHARED_BENCH, args.workers, args.threads)
    server = gunicorn("grafeas_py:create_app()", free_port(), env, ROOT, args.workers, args.threads)
    with minimal as ceiling_base, server as base:
        seed(base, body)
        result = {"database": kind}
        if "create" in args.only:
            result["create"] = bench_create(ceiling_base, base, workdir, args)
        if "batch" in args.only:
            result["batch"] = bench_batch(ceiling_db, base, body, args)
        if "get" in args.only:
            result["get"] = bench_get(base, workdir, args)
        return result


def seed(base: str, body: dict) -> None:
    detail = {"affectedCpeUri": "cpe:/o:x", "affectedPackage": "openssl"}
    note = {"vulnerability": {"severity": "HIGH", "details": [detail]}}
    requests.post(f"{base}/v1/projects/bench/notes", params={"noteId": "CVE-2024-0001"}, json=note).raise_for_status()
    requests.post(f"{base}/v1/projects/bench/occurrences", json=body).raise_for_status()


def bench_create(ceiling_base: str, base: str, workdir: Path, args) -> dict:
    """(a) POST occ.json under the same load, to the ceiling app and to us, in alternating runs."""
    pairs = []
    for _ in range(args.rounds):
        ceiling = wrk(f"{ceiling_base}/v1/projects/bench/occurrences", workdir, args.duration, args.connections, True)
        ours = wrk(f"{base}/v1/projects/bench/occurrences", workdir, args.duration, args.connections, True)
        if ceiling["non2xx"] or ours["non2xx"]:
            raise RuntimeError(f"non-2xx responses under load: ceiling {ceiling['non2xx']}, ours {ours['non2xx']}")
        pairs.append((ceiling["rps"], ours["rps"]))
    return _summary(pairs, "rps")


def bench_batch(ceiling_db: str, base: str, body: dict, args) -> dict:
    """(b) one BatchCreateOccurrences of 1000 over HTTP vs bulk_ceiling.py's rows/s, alternating."""
    posted = itertools.count()

    def fresh_payload() -> str:
        """1000 occurrences, each for an artifact no batch named before: the server caches what it
        derives from a URI, which a batch repeating the last one's URIs would find every time."""
        batch = next(posted)
        items = [dict(body, resourceUri=f"{body['resourceUri']}-{batch}-{i}") for i in range(1000)]
        return json.dumps({"occurrences": items})

    pairs, small = [], []
    with requests.Session() as session:
        for _ in range(2 * args.workers):  # warm up every worker: first requests compile statements
            session.post(f"{base}/v1/projects/bench/occurrences:batchCreate", data=fresh_payload()).raise_for_status()
        for _ in range(args.rounds):
            settle()
            ceiling_rows = bulk_ceiling(ceiling_db, 20000)
            # For reference only: the ceiling for one transaction of a batch's size, where its fixed
            # commit cost weighs as much as it does on one batch request.
            small.append(statistics.median(bulk_ceiling(ceiling_db, 1000) for _ in range(3)))
            settle()
            timings = []
            for _ in range(3):
                payload = fresh_payload()
                start = time.perf_counter()
                r = session.post(
                    f"{base}/v1/projects/bench/occurrences:batchCreate",
                    data=payload,
                    headers={"Content-Type": "application/json"},
                )
                timings.append(time.perf_counter() - start)
                r.raise_for_status()
            pairs.append((ceiling_rows, 1000 / statistics.median(timings)))
    result = _summary(pairs, "rows_per_s")
    result["ceiling_1000_rows_per_s"] = statistics.median(small)
    result["ratio_vs_ceiling_1000"] = statistics.median(ours / c for (_, ours), c in zip(pairs, small, strict=True))
    return result


SETTLE_SECONDS = 3


def settle() -> None:
    """Wait for the database to finish what the last measurement left it doing, so that neither side is timed
    in the other's wake: after the ceiling's 20,000-row insert and drop, PostgreSQL's background writes
    slowed the batches timed right after it."""
    time.sleep(SETTLE_SECONDS)


def bulk_ceiling(ceiling_db: str, rows: int) -> float:
    """rows/s of shared/bench/bulk_ceiling.py: one executemany of `rows` rows in one transaction."""
    out = subprocess.run(
        [sys.executable, str(SHARED_BENCH / "bulk_ceiling.py"), ceiling_db, str(rows)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"= (\d+) rows/s", out).group(1))


def bench_get(base: str, workdir: Path, args) -> dict:
    """(c) GetOccurrence latency on one keep-alive connection, one request at a time."""
    name = requests.get(f"{base}/v1/projects/bench/occurrences", params={"pageSize": 1}).json()["occurrences"][0]
    get = wrk(f"{base}/v1/{name['name']}", workdir, args.duration, 1, False, threads=1)
    return {"p50_ms": get["p50_ms"], "p99_ms": get["p99_ms"], "rps_one_connection": get["rps"]}


def _summary(pairs: list[tuple[float, float]], unit: str) -> dict:
    ratios = [ours / ceiling for ceiling, ours in pairs]
    return {
        f"ceiling_{unit}": statistics.median(c for c, _ in pairs),
        f"ours_{unit}": statistics.median(o for _, o in pairs),
        "ratio": statistics.median(ratios),
        "ratios": [round(r, 3) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--duration", type=int, default=6, help="seconds of load per wrk run")
    parser.add_argument("--workers", type=int, default=min(2 * (os.cpu_count() or 1) + 1, 8))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alternating (ceiling, ours) pairs per ratio")
    parser.add_argument("--only", nargs="+", default=["create", "batch", "get"], choices=["create", "batch", "get"])
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    schemas: list[str] = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                results.append(bench_database(kind, args, Path(tmp), schemas))
        finally:
            drop_schemas(schemas)
    print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); wrk -c{args.connections}")
    for r in results:
        print(f"[{r['database']}]")
        if c := r.get("create"):
            print(
                f"  (a) CreateOccurrence {c['ours_rps']:.0f} req/s vs minimal_app {c['ceiling_rps']:.0f} req/s:"
                f" ratio {c['ratio']:.2f} (per round {c['ratios']}; goal >= 0.70)"
            )
        if b := r.get("batch"):
            print(
                f"  (b) BatchCreate 1000: {b['ours_rows_per_s']:.0f} rows/s"
                f" vs bulk_ceiling {b['ceiling_rows_per_s']:.0f} rows/s:"
                f" ratio {b['ratio']:.2f} (per round {b['ratios']}; goal >= 0.30)"
            )
            print(
                f"      for reference, bulk_ceiling at 1000 rows (one batch's size):"
                f" {b['ceiling_1000_rows_per_s']:.0f} rows/s, ratio {b['ratio_vs_ceiling_1000']:.2f}"
            )
        if g := r.get("get"):
            print(
                f"  (c) GetOccurrence p50 {g['p50_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms"
                f" ({g['rps_one_connection']:.0f} req/s on one connection)"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
