"""Query speed at a million occurrences: HTTP latency, growth from 100k to 1M, and overhead over raw SQL.

    python tests/benchmarks/bench_scale.py [--db postgres sqlite] [--size 1000000] [--samples 200]

Seeds, through the service's batch path (validation included), `--size` occurrences: 100 per
artifact over size/100 artifacts in 10 tenant projects, attached to 5,000 notes in a provider
project (4,500 CVEs with a skewed popularity, 300 packages, 100 builders, 50 scanners, 50
attestors). Each artifact holds 76 VULNERABILITY, 20 PACKAGE, 2 ATTESTATION, 1 BUILD and
1 DISCOVERY occurrences. The queries are measured twice: once a tenth of the rows is in, and again
at the full size, always on artifacts seeded in the first tenth, so the two runs differ only in
how much else the database holds. After each seeding phase PostgreSQL is VACUUM ANALYZEd and
SQLite ANALYZEd, as autovacuum and `PRAGMA optimize` would leave them.

Each query is timed over HTTP (gunicorn with deploy/gunicorn.conf.py, one keep-alive http.client
connection, one request at a time; only the walk parses bodies, with orjson) and, in the same run,
as raw SQL: the exact statement and parameters the server sends to the database (captured from
SQLAlchemy's cursor events) replayed on a bare DBAPI cursor with the rows fetched. Goals
(PostgreSQL): artifact-scoped queries p50 <= 10 ms and p99 <= 30 ms at 1M; latency at 1M
<= 1.5x latency at 100k; HTTP <= 2x raw SQL.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import orjson
from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from grafeas_py import create_app, db  # noqa: E402
from grafeas_py.config import Settings  # noqa: E402
from grafeas_py.filtering import parse  # noqa: E402
from grafeas_py.names import NoteRef  # noqa: E402
from grafeas_py.storage import PageRequest  # noqa: E402
from tests.benchmarks.bench_core import ROOT, drop_schemas, free_port, fresh_database, gunicorn  # noqa: E402

PROVIDER = "vulnz"
TENANTS = 10
PER_ARTIFACT = 100
SEVERITIES = ["CRITICAL"] * 5 + ["HIGH"] * 20 + ["MEDIUM"] * 45 + ["LOW"] * 30
CVES, PACKAGES, BUILDERS, SCANNERS, ATTESTORS = 4500, 300, 100, 50, 50
POPULAR_CVE = "CVE-2024-00000"  # the skew below makes the first CVE the most common


def cve(i: int) -> str:
    return f"CVE-2024-{i:05d}"


def notes() -> dict[str, dict]:
    """The provider's 5,000 notes, canonical documents keyed by id."""
    out = {}
    for i in range(CVES):
        severity = SEVERITIES[i % len(SEVERITIES)]
        detail = {"affectedCpeUri": "cpe:/o:debian:debian_linux:12", "affectedPackage": f"pkg-{i % PACKAGES}"}
        out[cve(i)] = {"shortDescription": cve(i), "vulnerability": {"severity": severity, "details": [detail]}}
    for i in range(PACKAGES):
        out[f"pkg-{i}"] = {"package": {"name": f"pkg-{i}"}}
    for i in range(BUILDERS):
        out[f"builder-{i}"] = {"build": {"builderVersion": f"builder-{i}"}}
    for i in range(SCANNERS):
        out[f"scanner-{i}"] = {"discovery": {"analysisKind": "VULNERABILITY"}}
    for i in range(ATTESTORS):
        out[f"attestor-{i}"] = {"attestation": {"hint": {"humanReadableName": f"attestor-{i}"}}}
    return out


def artifact(i: int) -> tuple[str, str]:
    """(project, resource URI) of artifact i."""
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return f"tenant-{i % TENANTS}", f"https://registry.example.com/team-{i % 50}/app-{i}@sha256:{digest}"


def occurrences_of(i: int) -> list[dict]:
    """The 100 canonical occurrence documents of artifact i (deterministic per artifact)."""
    rng = random.Random(i)
    _, uri = artifact(i)
    note = f"projects/{PROVIDER}/notes/"
    out = [
        {
            "resourceUri": uri,
            "noteName": note + f"scanner-{i % SCANNERS}",
            "discovery": {"analysisStatus": "FINISHED_SUCCESS", "lastScanTime": "2026-11-01T12:00:00Z"},
        },
        {
            "resourceUri": uri,
            "noteName": note + f"builder-{i % BUILDERS}",
            "build": {"provenance": {"id": f"build-{i}", "builderVersion": f"builder-{i % BUILDERS}"}},
        },
    ]
    for a in range(2):
        signature = {"signature": "c2ln", "publicKeyId": f"key-{a}"}
        out.append(
            {
                "resourceUri": uri,
                "noteName": note + f"attestor-{(i + a) % ATTESTORS}",
                "attestation": {"serializedPayload": "e30=", "signatures": [signature]},
            }
        )
    for p in rng.sample(range(PACKAGES), 20):
        location = [{"cpeUri": "cpe:/o:debian:debian_linux:12", "version": {"name": "1.0", "kind": "NORMAL"}}]
        out.append(
            {"resourceUri": uri, "noteName": note + f"pkg-{p}", "package": {"name": f"pkg-{p}", "location": location}}
        )
    for _ in range(PER_ARTIFACT - len(out)):
        c = int(CVES * rng.random() ** 3)  # a few CVEs are everywhere, most are rare
        fixed = rng.random() < 0.6
        issue = {
            "affectedCpeUri": "cpe:/o:debian:debian_linux:12",
            "affectedPackage": f"pkg-{c % PACKAGES}",
            "affectedVersion": {"name": "1.0", "kind": "NORMAL"},
            "fixedCpeUri": "cpe:/o:debian:debian_linux:12",
            "fixedPackage": f"pkg-{c % PACKAGES}",
            "fixedVersion": {"name": "1.1", "kind": "NORMAL"} if fixed else {"kind": "MAXIMUM"},
        }
        vulnerability = {
            "effectiveSeverity": SEVERITIES[c % len(SEVERITIES)],
            "cvssScore": round(rng.uniform(1, 10), 1),
            "packageIssue": [issue],
        }
        if fixed:
            vulnerability["fixAvailable"] = True
        out.append({"resourceUri": uri, "noteName": note + cve(c), "vulnerability": vulnerability})
    return out


def seed(service, first: int, last: int) -> float:
    """Artifacts [first, last) through batchCreate, 10 artifacts (1,000 occurrences) a batch; rows/s."""
    start = time.perf_counter()
    for tenant in range(TENANTS):
        ids = [i for i in range(first, last) if i % TENANTS == tenant]
        for k in range(0, len(ids), 10):
            batch = [o for i in ids[k : k + 10] for o in occurrences_of(i)]
            service.batch_create_occurrences(f"tenant-{tenant}", batch)
    return (last - first) * PER_ARTIFACT / (time.perf_counter() - start)


class Client:
    """A thin keep-alive HTTP client (http.client), so the timings are the server's, not a library's."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc)

    def get(self, url: str, params: dict) -> bytes:
        path = urllib.parse.urlsplit(url).path + ("?" + urllib.parse.urlencode(params) if params else "")
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return body

    def post(self, url: str, body: bytes) -> bytes:
        self.conn.request("POST", urllib.parse.urlsplit(url).path, body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {url}: {response.status} {answer[:300]!r}")
        return answer

    def close(self) -> None:
        self.conn.close()


class Capture:
    """Records the statements an engine sends, so the same SQL can be replayed on a raw cursor."""

    def __init__(self, engines) -> None:
        self.statements: list[tuple[str, object]] = []
        self.thread: int | None = None
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, _executemany):
        # Only the measured call's own: the storage's audit sealer runs in a thread of its own.
        if threading.get_ident() == self.thread:
            self.statements.append((statement, parameters))

    @contextmanager
    def capturing(self):
        self.statements.clear()
        self.thread = threading.get_ident()
        try:
            yield self.statements
        finally:
            self.thread = None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(args, base: str, storage, reader, capture: Capture, n_artifacts: int) -> dict:
    """Every query: HTTP p50/p99 and raw-SQL p50/p99 over the same samples."""
    rng = random.Random(42)
    first_phase = max(1, n_artifacts // 10)
    picks = [rng.randrange(first_phase) for _ in range(args.samples)]
    queries = {}

    def artifact_query(name, path_of, filter_of, call):
        samples = []
        for i in picks:
            project, uri = artifact(i)
            filter_ = filter_of(uri)
            samples.append(
                (f"{base}/v1/projects/{project}/{path_of}", {"filter": filter_, "pageSize": 100}, project, filter_)
            )
        queries[name] = (samples, call)

    def list_call(project, filter_):
        return storage.list_occurrences(project, PageRequest(size=100), parse(filter_))

    def summary_call(project, filter_):
        return storage.vulnerability_summary(project, parse(filter_))

    artifact_query("list by resourceUrl", "occurrences", lambda u: f'resourceUrl="{u}"', list_call)
    artifact_query(
        "kind + resourceUrl", "occurrences", lambda u: f'kind="VULNERABILITY" AND resourceUrl="{u}"', list_call
    )
    artifact_query(
        "severity (member) + resourceUrl",
        "occurrences",
        lambda u: f'resourceUrl="{u}" AND vulnerability.effectiveSeverity="HIGH"',
        list_call,
    )
    artifact_query(
        "summary, one artifact", "occurrences:vulnerabilitySummary", lambda u: f'resourceUrl="{u}"', summary_call
    )
    note = NoteRef(PROVIDER, POPULAR_CVE)
    queries["ListNoteOccurrences, popular CVE"] = (
        [(f"{base}/v1/projects/{PROVIDER}/notes/{POPULAR_CVE}/occurrences", {"pageSize": 100}, None, "")]
        * args.samples,
        lambda _p, _f: storage.list_note_occurrences(note, PageRequest(size=100)),
    )
    whole = max(5, args.samples // 20)
    queries["summary, whole project"] = (
        [(f"{base}/v1/projects/tenant-3/occurrences:vulnerabilitySummary", {}, "tenant-3", "")] * whole,
        summary_call,
    )

    results = {}
    client = Client(base)
    try:
        for name, (samples, call) in queries.items():
            for url, params, *_ in samples[:5]:  # warm every statement cache and connection
                client.get(url, params)
            ours, raw = [], []
            for url, params, project, filter_ in samples:
                start = time.perf_counter()
                client.get(url, params)
                ours.append((time.perf_counter() - start) * 1000)
                with capture.capturing() as statements:
                    call(project, filter_)
                raw.append(replay(reader, statements))
            results[name] = summarize(ours, raw)
        results["walk 10,000 results (pages of 1000)"] = walk(client, base, storage, reader, capture)
    finally:
        client.close()
    return results


def replay(reader, statements) -> float:
    """Milliseconds to run the captured statements on a raw DBAPI cursor and fetch every row."""
    raw = reader.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            cursor.fetchall()
        elapsed = (time.perf_counter() - start) * 1000
        cursor.close()
    finally:
        raw.close()
    return elapsed


def walk(client: Client, base: str, storage, reader, capture: Capture, total: int = 10_000, size: int = 1000) -> dict:
    """Page through 10,000 VULNERABILITY occurrences of one project, over HTTP and as raw SQL."""
    filter_ = 'kind="VULNERABILITY"'
    ours, raw = [], []
    for _ in range(3):
        start, seen, token = time.perf_counter(), 0, None
        while seen < total:
            params = {"filter": filter_, "pageSize": size, **({"pageToken": token} if token else {})}
            body = orjson.loads(client.get(f"{base}/v1/projects/tenant-5/occurrences", params))
            seen += len(body.get("occurrences", []))
            token = body.get("nextPageToken")
            if not token:  # fewer than `total` (a small --size): the walk ends with the collection
                break
        ours.append((time.perf_counter() - start) * 1000)
        statements, after = [], 0
        for _ in range(total // size):
            with capture.capturing() as captured:
                page = storage.list_occurrences("tenant-5", PageRequest(size=size, after=after), parse(filter_))
            statements += captured
            after = page.last
        raw.append(replay(reader, statements))
    return summarize(ours, raw)


def summarize(ours: list[float], raw: list[float]) -> dict:
    return {
        "p50_ms": statistics.median(ours),
        "p99_ms": pct(ours, 0.99),
        "raw_p50_ms": statistics.median(raw),
        "raw_p99_ms": pct(raw, 0.99),
        "overhead": statistics.median(ours) / statistics.median(raw),
        "n": len(ours),
    }


def analyze(engine) -> None:
    """Bring the database to a steady state after bulk seeding: statistics, and on PostgreSQL the
    vacuum that autovacuum would otherwise run (GIN pending lists included) during the timings."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def bench_database(kind: str, args, workdir: Path, schemas: list[str]) -> dict:
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    db.upgrade(url)
    app = create_app(Settings(database_url=url))
    grafeas = app.extensions["grafeas"]
    service, storage = grafeas.service, grafeas.storage
    reader = storage._reader  # the autocommit engine reads go through
    capture = Capture({storage.engine, reader})
    every_note = list(notes().items())
    for k in range(0, len(every_note), 1000):
        service.batch_create_notes(PROVIDER, dict(every_note[k : k + 1000]))
    n_artifacts = args.size // PER_ARTIFACT
    phases = {}
    seeded = 0
    with gunicorn("grafeas_py:create_app()", free_port(), {"GRAFEAS_DATABASE_URL": url}, ROOT, 2, 4) as base:
        for target in (n_artifacts // 10, n_artifacts):
            rate = seed(service, seeded, target)
            seeded = target
            analyze(storage.engine)
            print(f"[{kind}] seeded {seeded * PER_ARTIFACT:,} occurrences ({rate:,.0f} rows/s)", flush=True)
            phases[seeded * PER_ARTIFACT] = {
                "seed_rows_per_s": rate,
                "queries": measure(args, base, storage, reader, capture, n_artifacts),
            }
    storage.engine.dispose()
    return {"database": kind, "phases": phases}


def report(results: list[dict]) -> None:
    for r in results:
        (small, a), (large, b) = sorted(r["phases"].items())
        print(f"\n[{r['database']}] {small:,} -> {large:,} occurrences (seeding {b['seed_rows_per_s']:,.0f} rows/s)")
        print(f"  {'query':38} {'p50':>7} {'p99':>7} {'raw p50':>8} {'HTTP/raw':>8} {'p50@small':>9} {'growth':>7}")
        for name, q in b["queries"].items():
            growth = q["p50_ms"] / a["queries"][name]["p50_ms"]
            print(
                f"  {name:38} {q['p50_ms']:6.2f}ms {q['p99_ms']:6.2f}ms {q['raw_p50_ms']:7.2f}ms"
                f" {q['overhead']:7.2f}x {a['queries'][name]['p50_ms']:8.2f}ms {growth:6.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["postgres", "sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--size", type=int, default=1_000_000, help="occurrences at full size (a multiple of 1000)")
    parser.add_argument("--samples", type=int, default=200, help="requests per artifact-scoped query")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    schemas: list[str] = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                results.append(bench_database(kind, args, Path(tmp), schemas))
        finally:
            drop_schemas(schemas)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
