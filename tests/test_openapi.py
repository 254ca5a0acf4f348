"""The committed OpenAPI document matches the code."""

import json
import re
from pathlib import Path

from openapi_spec_validator import validate

from grafeas_py import create_app
from grafeas_py.config import Settings
from grafeas_py.openapi_doc import render

SPEC = Path(__file__).resolve().parent.parent / "api_spec" / "openapi.json"


def test_committed_spec_is_current():
    assert SPEC.read_text() == render(), (
        "api_spec/openapi.json is stale: run 'grafeas-py openapi api_spec/openapi.json'"
    )


def test_spec_documents_every_rpc_under_both_bindings():
    spec = json.loads(SPEC.read_text())
    paths = spec["paths"]
    for prefix in ("/v1/projects/{project}", "/v1/projects/{project}/locations/{location}"):
        assert set(paths[prefix + "/notes"]) >= {"get", "post"}
        assert set(paths[prefix + "/notes/{note_id}"]) >= {"get", "patch", "delete"}
        assert "post" in paths[prefix + "/notes:batchCreate"]
        assert "get" in paths[prefix + "/notes/{note_id}/occurrences"]
        assert set(paths[prefix + "/occurrences"]) >= {"get", "post"}
        assert set(paths[prefix + "/occurrences/{occurrence_id}"]) >= {"get", "patch", "delete"}
        assert "post" in paths[prefix + "/occurrences:batchCreate"]
        assert "get" in paths[prefix + "/occurrences/{occurrence_id}/notes"]
    assert set(paths["/v1/projects"]) >= {"get", "post"}
    schemas = spec["components"]["schemas"]
    assert schemas["Note"]["properties"]["kind"]["readOnly"] is True
    assert "AI_SKILL_ANALYSIS" in schemas["Note"]["properties"]["kind"]["enum"]
    assert "aiSkillAnalysis" in schemas["Occurrence"]["properties"]
    assert schemas["Occurrence"]["properties"]["vulnerability"]["allOf"][0]["$ref"].endswith("VulnerabilityOccurrence")


def test_spec_is_valid_openapi():
    validate(json.loads(SPEC.read_text()))  # raises, naming the offending part, if not


def test_spec_documents_every_route_the_server_serves_and_no_other():
    app = create_app(Settings(database_url="sqlite://"))
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/docs", "/static")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    spec = json.loads(SPEC.read_text())
    documented = {(method, path) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert served - documented == set(), "served but not in api_spec/openapi.json"
    assert documented - served == set(), "in api_spec/openapi.json but not served"


def test_gate_documents_are_described_from_the_schemas_that_load_them():
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    policy = schemas["Policy"]["properties"]
    assert {"name", "revision", "createTime", "updateTime"} <= {k for k, v in policy.items() if v.get("readOnly")}
    assert schemas["Rules"]["additionalProperties"] is False  # a misspelt rule is an error, and the spec says so
    assert schemas["ScanRule"]["required"] == ["maxAge"]
    assert schemas["ScanRule"]["properties"]["maxAge"]["example"] == "24h"
    assert "ED25519" in schemas["PublicKey"]["properties"]["algorithm"]["enum"]
    assert schemas["Decision"]["properties"]["decision"]["enum"] == ["ALLOW", "DENY", "ALLOW_WITH_WARNINGS"]
