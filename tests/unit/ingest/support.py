"""Shared helpers for the ingestion tests: reading fixtures, and proving a plan is valid Grafeas."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

from google.protobuf import json_format
from grafeas.grafeas_v1 import types as grafeas_types

from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest import IngestPlan, parse_report
from grafeas_py.validation import validate_note, validate_occurrence
from grafeas_py.wire.grafeas_types import CODEC, NOTE, OCCURRENCE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DIGEST = "4c1f9a7b2d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
IMAGE = f"https://registry.example.com/payments/api@sha256:{DIGEST}"
NOW = dt.datetime(2024, 12, 3, 12, 0, tzinfo=dt.UTC)
PROJECT, NOTE_PROJECT = "payments", "supply-chain"

# Every well-formed fixture, by format.
VALID = {
    "trivy": [
        "trivy/alpine-app-image.json",
        "trivy/clean-image.json",
        "trivy/image-with-secrets.json",
        "trivy/image-with-misconfigurations.json",
        "trivy/opensuse-advisory-with-colon.json",
    ],
    "grype": ["grype/debian-app-image.json", "grype/clean-image.json"],
    "clair": ["clair/debian-image.json", "clair/clean-image.json"],
    "spdx": ["spdx/payments-api.spdx.json"],
    "cyclonedx": ["cyclonedx/payments-api-1.5.cdx.json", "cyclonedx/payments-api-1.6.cdx.json"],
    "slsa": ["slsa/payments-api.provenance.json", "slsa/payments-api.provenance.dsse.json"],
    "junit": [
        "junit/pytest-passed.xml",
        "junit/surefire-mixed.xml",
        "junit/gradle-failed.xml",
        "junit/empty-suite.xml",
    ],
    "dsse": [
        "dsse/cosign-slsa-v0.2.json",
        "dsse/cosign-vuln-two-signatures.json",
        "dsse/plain-text-payload.json",
        "dsse/slsa-github-generator-v0.2.intoto.jsonl",
    ],
    "openvex": ["openvex/payments-api.openvex.json"],
    "csaf": ["csaf/payments-api.csaf.json"],
}
# Formats whose documents plan notes only (VEX): ingestion copies them onto the findings they fit.
NOTES_ONLY = frozenset({"openvex", "csaf"})
VALID_CASES = [(fmt, name) for fmt, names in VALID.items() for name in names]


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ingest(format: str, source: str | bytes, resource_uri: str = IMAGE, now: dt.datetime = NOW) -> IngestPlan:
    """Parse a fixture (by name) or raw bytes with the tests' usual project and resource."""
    data = raw(source) if isinstance(source, str) else source
    return parse_report(format, data, resource_uri=resource_uri, project=PROJECT, note_project=NOTE_PROJECT, now=now)


def refusal(format: str, source: str | bytes, resource_uri: str = IMAGE) -> str:
    """The message of the InvalidArgument that parsing the document raises, after its format's prefix."""
    try:
        ingest(format, source, resource_uri=resource_uri)
    except InvalidArgument as exc:
        prefix = f"invalid {format} report: "
        return exc.message.removeprefix(prefix) if exc.message.startswith(prefix) else exc.message
    raise AssertionError(f"the {format} document was accepted")


def vex_assessments(format: str, source: str | bytes, resource_uri: str = IMAGE) -> list[tuple[str, str, str]]:
    """The (product id, vulnerability, state) of each note a VEX document plans, in plan order; it plans
    no occurrences."""
    plan = ingest(format, source, resource_uri=resource_uri)
    assert not plan.occurrences
    return [
        (
            note["vulnerabilityAssessment"]["product"].get("id", ""),
            note["vulnerabilityAssessment"]["assessment"]["vulnerabilityId"],
            note["vulnerabilityAssessment"]["assessment"]["state"],
        )
        for note in plan.notes.values()
    ]


def junit_report(suite: str, tests: dict[str, bool]) -> bytes:
    """A JUnit report of one suite: each test passed (True) or failed."""
    cases = "".join(f'<testcase name="{name}">{"" if ok else "<failure/>"}</testcase>' for name, ok in tests.items())
    return f'<testsuite name="{suite}">{cases}</testsuite>'.encode()


def note_name(note_id: str) -> str:
    return f"projects/{NOTE_PROJECT}/notes/{note_id}"


def details(plan: IngestPlan, member: str) -> list[dict]:
    """The `member` details (e.g. "vulnerability") of every planned occurrence that has them."""
    return [o.body[member] for o in plan.occurrences if member in o.body]


def occurrences_on(plan: IngestPlan, note_id: str) -> list[dict]:
    return [o.body for o in plan.occurrences if o.body["noteName"] == note_name(note_id)]


def envelope_statement(envelope: dict) -> dict:
    """The JSON statement a (canonical) DSSE envelope carries."""
    return json.loads(base64.b64decode(envelope["payload"]))


def assert_valid_grafeas(plan: IngestPlan) -> None:
    """Every note and occurrence passes the validators, is already canonical, and protobuf accepts it."""
    for name, body in plan.notes.items():
        assert name.startswith(f"projects/{NOTE_PROJECT}/notes/") and "/" not in name.rsplit("/", 1)[1]
        assert validate_note(body) == [], (name, validate_note(body))
        assert CODEC.decode(NOTE, body) == body, name
        json_format.ParseDict(body, grafeas_types.Note.pb()())
    for occurrence in plan.occurrences:
        body = occurrence.body
        assert validate_occurrence(body) == [], (body["noteName"], validate_occurrence(body))
        assert CODEC.decode(OCCURRENCE, body) == body, body["noteName"]
        json_format.ParseDict(body, grafeas_types.Occurrence.pb()())
        assert body["noteName"] in plan.notes, "every occurrence's note is planned"
        assert not {"name", "createTime", "updateTime"} & set(body)
