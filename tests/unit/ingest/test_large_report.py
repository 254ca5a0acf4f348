"""A 10,000-finding Trivy report, generated into a temporary folder: it must parse fast enough to serve."""

from __future__ import annotations

import time

from tests.fixtures.generate_trivy_report import DIGEST, write_report

from .support import assert_valid_grafeas, ingest


def test_ten_thousand_findings(tmp_path):
    report = write_report(tmp_path / "trivy-10k.json", 10_000).read_bytes()
    uri = f"https://registry.example.com/big/app@sha256:{DIGEST}"
    started = time.perf_counter()
    plan = ingest("trivy", report, resource_uri=uri)
    elapsed = time.perf_counter() - started
    # Reported, not asserted: wall time on a shared machine is no pass/fail signal.
    print(f"\nparsed a {len(report) / 1e6:.1f} MB Trivy report with 10,000 findings in {elapsed:.3f} s")
    assert len(plan.occurrences) == 10_001  # 10,000 findings and the scan's DISCOVERY occurrence
    assert len(plan.notes) == 4_001  # 4,000 advisories and the DISCOVERY note
    assert len({o.key for o in plan.occurrences}) == 10_001
    assert_valid_grafeas(plan)
