"""Deploy-gate decision latency over HTTP: an artifact with 200 occurrences in a database of 1M.

    python tests/benchmarks/bench_gate.py [--db postgres sqlite] [--size 1000000] [--requests 500]

Seeds `--size` background occurrences as tests/benchmarks/bench_scale.py does (through the batch
path), then one artifact with 200 occurrences: 180 vulnerabilities, 10 packages, a scan, a build,
a passing test-result attestation, and 5 ATTESTATION occurrences signed by 5 attestors (ECDSA
P-256, P-384, Ed25519, RSA PKCS#1 and RSA-PSS). Its policy checks every declarative rule and
requires all 5 attestations, so each decision reads the 200 occurrences and verifies 5 signatures.
Decisions are made one at a time from one keep-alive client against gunicorn (deploy/gunicorn.conf.py);
each is recorded, as in production. The pure engine is timed alone on the same inputs for
comparison. Goals: p50 <= 5 ms, p99 <= 20 ms over HTTP, on PostgreSQL at 1M occurrences.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from grafeas_py import create_app, db  # noqa: E402
from grafeas_py.attestations import IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, TEST_RESULT_PREDICATE_TYPE  # noqa: E402
from grafeas_py.config import Settings  # noqa: E402
from grafeas_py.gate import evaluate, parse_policy  # noqa: E402
from grafeas_py.gate.artifacts import artifact_key  # noqa: E402
from grafeas_py.gate.keys import algorithm_named  # noqa: E402
from grafeas_py.gate.signing import sign, simple_signing_payload  # noqa: E402
from tests.benchmarks.bench_core import ROOT, drop_schemas, free_port, fresh_database, gunicorn  # noqa: E402
from tests.benchmarks.bench_scale import PROVIDER, Client, analyze, notes, pct, seed  # noqa: E402

PROJECT = "gated"
DIGEST = hashlib.sha256(b"the gated image").hexdigest()
IMAGE = f"https://registry.example.com/prod/app@sha256:{DIGEST}"
KEYS = {
    "ecdsa256": ("ECDSA_P256_SHA256", lambda: ec.generate_private_key(ec.SECP256R1())),
    "ecdsa384": ("ECDSA_P384_SHA384", lambda: ec.generate_private_key(ec.SECP384R1())),
    "ed25519": ("ED25519", ed25519.Ed25519PrivateKey.generate),
    "rsa": ("RSA_SIGN_PKCS1_2048_SHA256", lambda: rsa.generate_private_key(65537, 2048)),
    "rsapss": ("RSA_PSS_2048_SHA256", lambda: rsa.generate_private_key(65537, 2048)),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def gated_artifact(service) -> dict:
    """Notes, the 200 occurrences and the policy document of the artifact under test."""
    note = f"projects/{PROJECT}/notes/"
    service.batch_create_notes(
        PROJECT,
        {
            **{name: {"attestation": {"hint": {"humanReadableName": name}}} for name in KEYS},
            "tests": {"dsseAttestation": {"hint": {"humanReadableName": "ci tests"}}},
        },
    )
    attestors, bodies = [], []
    payload = simple_signing_payload(IMAGE)
    for name, (algorithm, make) in KEYS.items():
        key = make()
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        attestors.append(
            {
                "name": name,
                "noteName": note + name,
                "publicKeys": [{"id": name, "algorithm": algorithm, "publicKeyPem": pem.decode()}],
            }
        )
        signature = sign(key, algorithm_named(algorithm), payload)
        bodies.append(
            {
                "resourceUri": IMAGE,
                "noteName": note + name,
                "attestation": {
                    "serializedPayload": b64(payload),
                    "signatures": [{"publicKeyId": name, "signature": b64(signature)}],
                },
            }
        )
    statement = {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [{"name": IMAGE, "digest": {"sha256": DIGEST}}],
        "predicateType": TEST_RESULT_PREDICATE_TYPE,
        "predicate": {"result": "PASSED", "configuration": [{"name": "junit.xml"}], "passedTests": ["t"]},
    }
    envelope = {"payload": b64(json.dumps(statement).encode()), "payloadType": IN_TOTO_PAYLOAD_TYPE}
    bodies.append({"resourceUri": IMAGE, "noteName": note + "tests", "dsseAttestation": {"envelope": envelope}})
    provider = f"projects/{PROVIDER}/notes/"
    bodies.append(
        {
            "resourceUri": IMAGE,
            "noteName": provider + "scanner-0",
            "discovery": {"analysisStatus": "FINISHED_SUCCESS", "lastScanTime": "2026-11-27T00:00:00Z"},
        }
    )
    bodies.append(
        {
            "resourceUri": IMAGE,
            "noteName": provider + "builder-0",
            "build": {"provenance": {"id": "b", "builderVersion": "builder-0"}},
        }
    )
    for p in range(10):
        location = [{"cpeUri": "cpe:/o:debian:debian_linux:12", "version": {"name": "1.0", "kind": "NORMAL"}}]
        package = {"name": f"pkg-{p}", "location": location, "license": {"expression": "MIT"}}
        bodies.append({"resourceUri": IMAGE, "noteName": provider + f"pkg-{p}", "package": package})
    for c in range(200 - len(bodies)):
        issue = {
            "affectedCpeUri": "cpe:/o:debian:debian_linux:12",
            "affectedPackage": f"pkg-{c % 10}",
            "affectedVersion": {"name": "1.0", "kind": "NORMAL"},
            "fixedCpeUri": "cpe:/o:debian:debian_linux:12",
            "fixedPackage": f"pkg-{c % 10}",
            "fixedVersion": {"name": "1.1", "kind": "NORMAL"},
        }
        vulnerability = {"effectiveSeverity": "LOW" if c % 3 else "MEDIUM", "cvssScore": 4.0, "packageIssue": [issue]}
        bodies.append(
            {"resourceUri": IMAGE, "noteName": provider + f"CVE-2024-{c:05d}", "vulnerability": vulnerability}
        )
    service.batch_create_occurrences(PROJECT, bodies)
    return {
        "attestors": attestors,
        "occurrenceProjects": [],
        "rules": {
            "vulnerabilities": {
                "maximumFixableSeverity": "MEDIUM",
                "maximumUnfixableSeverity": "HIGH",
                "maximumCvssScore": 9,
            },
            "scan": {"maxAge": "36500d"},
            "provenance": {"builderIds": ["builder-*"]},
            "tests": {},
            "attestations": {"attestors": list(KEYS)},
            "packages": {"denyPackages": [{"name": "log4j-core"}], "denyLicenses": ["AGPL-3.0-only"]},
        },
    }


def bench_database(kind: str, args, workdir: Path, schemas: list[str]) -> dict:
    url, schema = fresh_database(kind, workdir)
    schemas += [schema] if schema else []
    db.upgrade(url)
    app = create_app(Settings(database_url=url))
    grafeas = app.extensions["grafeas"]
    every_note = list(notes().items())
    for k in range(0, len(every_note), 1000):
        grafeas.service.batch_create_notes(PROVIDER, dict(every_note[k : k + 1000]))
    rate = seed(grafeas.service, 0, args.size // 100)
    policy = gated_artifact(grafeas.service)
    analyze(grafeas.storage.engine)
    print(f"[{kind}] seeded {args.size:,} + 200 occurrences ({rate:,.0f} rows/s)", flush=True)
    grafeas.gate.create_policy(PROJECT, "prod", policy)

    occurrences = grafeas.storage.artifact_occurrences([PROJECT], [IMAGE], [artifact_key(IMAGE)], 1000)
    parsed, now = parse_policy(policy), dt.datetime.now(dt.UTC)
    decision = evaluate(parsed, IMAGE, occurrences, now)
    assert decision.allowed and len(occurrences) == 200, decision.to_dict()
    engine = []
    for _ in range(args.requests):
        start = time.perf_counter()
        evaluate(parsed, IMAGE, occurrences, now)
        engine.append((time.perf_counter() - start) * 1000)

    with grafeas.storage.engine.connect() as conn:  # how the database finds the artifact's occurrences
        # SQLite's EXPLAIN lists bytecode; its plan, one line per step, is EXPLAIN QUERY PLAN's last column.
        explain = "EXPLAIN QUERY PLAN" if kind == "sqlite" else "EXPLAIN"
        query = (
            f"{explain} SELECT data FROM occurrences WHERE project_id IN (:p) AND resource_uri = :u"
            " ORDER BY pk LIMIT 20001"
        )
        plan = [str(row[-1]) for row in conn.execute(text(query), {"p": PROJECT, "u": IMAGE})]
    print("  " + "\n  ".join(plan), flush=True)
    with gunicorn("grafeas_py:create_app()", free_port(), {"GRAFEAS_DATABASE_URL": url}, ROOT, 2, 4) as base:
        client = Client(base)
        path = f"{base}/v1/projects/{PROJECT}/policies/prod:evaluate"
        body = orjson.dumps({"resourceUri": IMAGE})
        http = []
        try:
            for i in range(args.requests + 20):
                start = time.perf_counter()
                answer = orjson.loads(client.post(path, body))
                if i >= 20:  # the first requests of each worker parse the policy and warm the pools
                    http.append((time.perf_counter() - start) * 1000)
                assert answer["decision"] == "ALLOW", answer
        finally:
            client.close()
    grafeas.storage.engine.dispose()
    return {
        "database": kind,
        "http_p50": statistics.median(http),
        "http_p99": pct(http, 0.99),
        "engine_p50": statistics.median(engine),
        "engine_p99": pct(engine, 0.99),
        "occurrences": len(occurrences),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["postgres", "sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument("--size", type=int, default=1_000_000, help="background occurrences (a multiple of 1000)")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    schemas: list[str] = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in args.db:
                results.append(bench_database(kind, args, Path(tmp), schemas))
        finally:
            drop_schemas(schemas)
    for r in results:
        print(
            f"[{r['database']}] decision over HTTP, {r['occurrences']} occurrences and 5 signatures, in "
            f"{args.size:,}: p50 {r['http_p50']:.2f} ms, p99 {r['http_p99']:.2f} ms (goals 5 / 20 ms); "
            f"engine alone p50 {r['engine_p50']:.2f} ms, p99 {r['engine_p99']:.2f} ms"
        )


if __name__ == "__main__":
    main()
