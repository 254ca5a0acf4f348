"""The well-formed fixtures follow the JSON schemas their formats publish (see tests/fixtures/schemas)."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource

from .support import FIXTURES, VALID

SCHEMAS = FIXTURES / "schemas"


def _registry(folder: str) -> Registry:
    resources = [Resource.from_contents(json.loads(p.read_text())) for p in (SCHEMAS / folder).glob("*.json")]
    return Registry().with_resources((r.contents["$id"], r) for r in resources)


def _validator(fixture: str):
    if fixture.startswith("clair/"):
        schema = json.loads((SCHEMAS / "clair/vulnerability_report.schema.json").read_text())
        return Draft202012Validator(schema, registry=_registry("clair"))
    if fixture.startswith("spdx/"):
        return Draft7Validator(json.loads((SCHEMAS / "spdx/spdx-2.3.schema.json").read_text()))
    if fixture.startswith("openvex/"):
        return Draft202012Validator(json.loads((SCHEMAS / "openvex/openvex_json_schema.json").read_text()))
    version = json.loads((FIXTURES / fixture).read_text())["specVersion"]
    schema = json.loads((SCHEMAS / f"cyclonedx/bom-{version}.schema.json").read_text())
    return Draft7Validator(schema, registry=_registry("cyclonedx"))


@pytest.mark.parametrize("fixture", VALID["clair"] + VALID["spdx"] + VALID["cyclonedx"] + VALID["openvex"])
def test_fixture_follows_its_published_schema(fixture):
    errors = [
        f"{e.json_path}: {e.message}"
        for e in _validator(fixture).iter_errors(json.loads((FIXTURES / fixture).read_text()))
    ]
    assert errors == []


def test_both_cyclonedx_versions_are_covered():
    versions = {json.loads((FIXTURES / f).read_text())["specVersion"] for f in VALID["cyclonedx"]}
    assert versions == {"1.5", "1.6"}


@pytest.mark.parametrize(
    "fixture,where",
    [
        ("cyclonedx/unknown-vex-state.cdx.json", "$.vulnerabilities[1].analysis.state"),
        ("spdx/bad-version-type.spdx.json", "$.packages[3].versionInfo"),
    ],
)
def test_the_malformed_variants_break_the_schema_where_ingestion_says(fixture, where):
    assert where in [e.json_path for e in _validator(fixture).iter_errors(json.loads((FIXTURES / fixture).read_text()))]
