"""Deploy-gate decision latency: evaluate() over 200 occurrences, including 5 signed attestations.

    python tests/benchmarks/bench_gate_engine.py [--runs 1000] [--rounds 5] [--rego]

The policy enables every declarative rule; 5 attestors (Ed25519, ECDSA P-256 and P-384, RSA
PKCS#1 2048 and RSA-PSS 3072) each need one signed attestation, so every decision verifies 5
signatures. The occurrences are 160 vulnerabilities, 20 packages, 5 discoveries, 5 builds,
4 compliance findings, 1 test result and the 5 attestations. Prints p50/p99 in milliseconds
per round, and their medians across rounds.
With --rego the policy also carries a small Rego module (evaluated in the worker process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from grafeas_py.gate import evaluate  # noqa: E402
from tests.unit.gate.builders import (  # noqa: E402
    NOW,
    URI,
    attestor,
    build,
    compliance,
    discovery,
    make_policy,
    package,
    results_payload,
    signed_attestation,
    signed_dsse,
    signer,
    vulnerability,
)

ALGORITHMS = ["ED25519", "ECDSA_P256_SHA256", "ECDSA_P384_SHA384", "RSA_SIGN_PKCS1_2048_SHA256", "RSA_PSS_3072_SHA256"]
REGO = """\
package gate
import rego.v1
deny contains sprintf("%s is critical", [o.noteName]) if {
  some o in input.occurrences
  o.kind == "VULNERABILITY"
  o.vulnerability.effectiveSeverity == "CRITICAL"
}
"""


def scenario(with_rego: bool):
    signers = {f"attestor-{i}": signer(algorithm, f"key-{i}") for i, algorithm in enumerate(ALGORITHMS)}
    notes = {name: f"projects/acme/notes/{name}" for name in signers}
    severities = ["LOW", "MEDIUM", "MINIMAL", "LOW"]
    occurrences = [vulnerability(f"CVE-2024-{i:04d}", severities[i % 4], fixable=i % 3 != 0) for i in range(160)]
    occurrences += [package(f"lib{i}", f"1.{i}.0", "MIT OR Apache-2.0") for i in range(20)]
    occurrences += [discovery(scanned=NOW - timedelta(hours=i)) for i in range(5)]
    occurrences += [build(source="https://github.com/acme/app") for _ in range(5)]
    occurrences += [compliance(f"projects/acme/notes/cis-{i}") for i in range(4)]
    occurrences.append(signed_dsse(None, "projects/acme/notes/ci", results_payload()))
    occurrences += [
        signed_attestation(key, notes[name]) if i % 2 else signed_dsse(key, notes[name])
        for i, (name, key) in enumerate(signers.items())
    ]
    assert len(occurrences) == 200
    rules = {
        "artifacts": {"denyPatterns": ["docker.io/**"]},
        "vulnerabilities": {
            "maximumFixableSeverity": "MEDIUM",
            "maximumUnfixableSeverity": "HIGH",
            "maximumCvssScore": 9,
            "exemptions": [{"cve": "CVE-2024-0001", "justification": "bench"}],
        },
        "scan": {"maxAge": "24h"},
        "provenance": {
            "builderIds": ["https://cloudbuild.googleapis.com/**"],
            "sourceUris": ["https://github.com/acme/*"],
        },
        "tests": {},
        "attestations": {"attestors": list(signers), "predicateTypes": ["https://slsa.dev/provenance/v1"]},
        "compliance": {"noteNames": [f"projects/acme/notes/cis-{i}" for i in range(4)]},
        "packages": {"denyPackages": [{"name": "log4j-core"}], "denyLicenses": ["AGPL-3.0-only"]},
    }
    declared = [attestor(name, [key], notes[name]) for name, key in signers.items()]
    policy = make_policy(rules, attestors=declared, **({"rego": REGO} if with_rego else {}))
    return policy, occurrences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="evaluations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rego", action="store_true", help="add a Rego module to the policy")
    args = parser.parse_args()
    policy, occurrences = scenario(args.rego)
    decision = evaluate(policy, URI, occurrences, NOW)
    assert decision.decision == "ALLOW", decision.to_dict()
    for _ in range(50):
        evaluate(policy, URI, occurrences, NOW)
    p50s, p99s = [], []
    for _ in range(args.rounds):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            evaluate(policy, URI, occurrences, NOW)
            times.append((time.perf_counter() - start) * 1000)
        cuts = statistics.quantiles(times, n=100)
        p50s.append(cuts[49])
        p99s.append(cuts[98])
        print(f"  round: p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, max {max(times):.2f} ms")
    # The machine may be shared: the median round is less at the mercy of a neighbour's burst than one long run.
    print(
        f"evaluate, 200 occurrences, 5 signature verifications{' + Rego' if args.rego else ''}, "
        f"{args.rounds} rounds of {args.runs}: median p50 {statistics.median(p50s):.2f} ms, "
        f"median p99 {statistics.median(p99s):.2f} ms (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
