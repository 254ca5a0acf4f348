"""Every script in tests/benchmarks runs to its end at its smallest sizes and prints its figures.

A smoke test, so that a benchmark that stops working fails here rather than on the next quiet machine.
Each runs on this pass's database (SQLite, or PostgreSQL at GRAFEAS_TEST_DATABASE_URL, in schemas of
its own that it drops); no figure is compared with any speed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.bench_core import SHARED_BENCH
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "postgres" if POSTGRES_URL else "sqlite"
# A figure as the scripts print them: 607, 1,000, 0.93, 22.9.
N = r"\d[\d,]*(?:\.\d+)?"
# No benchmark takes near this at these sizes (the slowest, bench_core, about 15 s): a hang, not a slow run.
TIMEOUT = 300


def run(script: str, *args: str) -> str:
    """`script`'s combined output, once it has exited 0."""
    env = {**os.environ, "GRAFEAS_BENCH_POSTGRES_URL": POSTGRES_URL} if POSTGRES_URL else None
    command = [sys.executable, str(ROOT / "tests" / "benchmarks" / script), *args]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # its `finally` drops the PostgreSQL schemas it made
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"{script} {' '.join(args)} still ran after {TIMEOUT} s:\n{out}")
    assert proc.returncode == 0, f"{script} {' '.join(args)} exited {proc.returncode}:\n{out}"
    return out


def lines(out: str, pattern: str) -> list[re.Match]:
    """Every line of `out` that `pattern` matches whole (after its indentation); at least one."""
    found = [m for line in out.splitlines() if (m := re.fullmatch(pattern, line.strip()))]
    assert found, f"no line matches {pattern!r} in:\n{out}"
    return found


def needs_shared_bench() -> None:
    """The ceilings (occ.json, bulk_ceiling.py, ...) are not part of the repository: a clone without them skips,
    saying where they were looked for."""
    if not SHARED_BENCH.is_dir():
        pytest.skip(f"the benchmark ceilings are not at {SHARED_BENCH}: set GRAFEAS_BENCH_SHARED to their folder")


def test_bench_core():
    needs_shared_bench()
    if not shutil.which("wrk"):
        # The README's test command needs nothing but Python; .ci/run installs wrk, so CI never skips this.
        pytest.skip("bench_core needs wrk, a system package: apt-get install wrk")
    # The smallest load wrk allows: its 2 threads need a connection each.
    sizes = ["--duration", "1", "--rounds", "1", "--workers", "1", "--threads", "1", "--connections", "2"]
    out = run("bench_core.py", "--db", DATABASE, *sizes)
    lines(out, rf"\[{DATABASE}\]")
    (create,) = lines(out, rf"\(a\) CreateOccurrence ({N}) req/s vs minimal_app ({N}) req/s: ratio ({N}) .*")
    assert float(create[1]) > 0 and float(create[2]) > 0
    (batch,) = lines(out, rf"\(b\) BatchCreate 1000: ({N}) rows/s vs bulk_ceiling ({N}) rows/s: ratio {N} .*")
    assert float(batch[1]) > 0 and float(batch[2]) > 0
    lines(out, rf"for reference, bulk_ceiling at 1000 rows \(one batch's size\): {N} rows/s, ratio {N}")
    lines(out, rf"\(c\) GetOccurrence p50 {N} ms, p99 {N} ms \({N} req/s on one connection\)")


def test_bench_batch_split():
    needs_shared_bench()
    out = run("bench_batch_split.py", "--db", DATABASE, "--batches", "1", "--rounds", "1")
    lines(out, rf"\[{DATABASE}\] budget for one batch of 1000 at 0.3 x bulk_ceiling: {N} ms")
    for part in ("python", "storage"):
        lines(out, rf"{part} +median +{N} ms \( *{N}% of it\), mean +{N} ms")
    lines(out, rf"sum of medians {N} ms: {N}% of the budget")
    lines(out, rf"request +median +{N} ms \( *{N}% of it\), mean +{N} ms; CPU median {N} ms")


def test_bench_gate():
    out = run("bench_gate.py", "--db", DATABASE, "--size", "1000", "--requests", "2")
    lines(out, rf"\[{DATABASE}\] seeded 1,000 \+ 200 occurrences \({N} rows/s\)")
    lines(
        out,
        rf"\[{DATABASE}\] decision over HTTP, 200 occurrences and 5 signatures, in 1,000: p50 {N} ms, p99 {N} ms"
        rf" \(goals 5 / 20 ms\); engine alone p50 {N} ms, p99 {N} ms",
    )


def test_bench_gate_engine():
    """With --rego, which runs the declarative rules too."""
    out = run("bench_gate_engine.py", "--runs", "2", "--rounds", "1", "--rego")
    lines(out, rf"round: p50 {N} ms, p99 {N} ms, max {N} ms")
    lines(
        out,
        rf"evaluate, 200 occurrences, 5 signature verifications \+ Rego, 1 rounds of 2: median p50 {N} ms,"
        rf" median p99 {N} ms \(load average {N}\)",
    )


def test_bench_ids():
    needs_shared_bench()
    out = run("bench_ids.py", "--db", DATABASE, "--batches", "3")  # the fewest with a first and a last third
    lines(out, rf"\[{DATABASE}\] median ms to store a batch of 1000, first third / last third of 3:")
    for label in (r"random \(v4\)", r"time-ordered \(v7\)"):
        lines(out, rf"{label} +{N} / +{N}")


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite only: bench_index_cost measures SQLite's indexes")
def test_bench_index_cost():
    needs_shared_bench()
    out = run("bench_index_cost.py", "--batches", "1")
    lines(out, rf"\[sqlite\] budget for one batch of 1000 at 0.3 x bulk_ceiling: {N} ms")
    lines(out, rf"{N} ms \( *{N}% of it\)  every index of the schema")
    assert len(lines(out, rf"{N} ms \( *{N}% of it\)  also without ix_occurrences_\w+")) >= 1


def test_bench_ingest():
    out = run("bench_ingest.py", "--db", DATABASE, "--findings", "10", "--rounds", "1", "--workers", "1")
    lines(out, rf"\[{DATABASE}\] 10 findings: median {N} s \(rounds {N}; goal <= 10 s\)")
    # 10 findings and the scan's DISCOVERY occurrence, then all of them again, in place.
    lines(out, r"trivy report for \S+: 11 created, 0 updated, 0 unchanged, 0 failed; 11 notes created")
    lines(out, rf"again, all present: {N} s: trivy report for \S+: 0 created, 0 updated, 11 unchanged, 0 failed; .*")


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: set GRAFEAS_TEST_DATABASE_URL (.ci/run does)")
def test_bench_prefix_filters():
    out = run("bench_prefix_filters.py", "--rows", "100", "--repeat", "1")
    lines(out, r"\[postgres\] one page of 100 at 100 rows, median of 1")
    assert len(lines(out, rf"(audit|decisions): has_prefix\(.*\): {N} ms; at 0015 \(default class\) {N} ms")) == 3
    lines(out, rf"upgrade 0015 -> head: {N} s")


def test_bench_scale():
    out = run("bench_scale.py", "--db", DATABASE, "--size", "1000", "--samples", "1")
    lines(out, rf"\[{DATABASE}\] seeded 100 occurrences \({N} rows/s\)")
    lines(out, rf"\[{DATABASE}\] 100 -> 1,000 occurrences \(seeding {N} rows/s\)")
    figures = rf" +{N}ms +{N}ms +{N}ms +{N}x +{N}ms +{N}x"
    queries = [
        r"list by resourceUrl",
        r"kind \+ resourceUrl",
        r"severity \(member\) \+ resourceUrl",
        r"summary, one artifact",
        r"ListNoteOccurrences, popular CVE",
        r"summary, whole project",
        r"walk 10,000 results \(pages of 1000\)",
    ]
    for query in queries:
        lines(out, query + figures)


def test_bench_vex():
    """Two sizes, so that it also prints how VEX time grew with the findings."""
    out = run("bench_vex.py", "--db", DATABASE, "--findings", "10", "20", "--rounds", "1", "--workers", "1")
    for n in (10, 20):
        lines(
            out,
            rf"\[{DATABASE}\] {n} findings, {n} assessments: VEX {N} s, rescan {N} s \(VEX / rescan {N}\),"
            rf" VEX again {N} s",
        )
    lines(out, rf"\[{DATABASE}\] 2.0x the findings: VEX took {N}x as long \(linear: 2.0x\)")
