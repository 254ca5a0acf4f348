"""The committed OpenAPI document matches the code."""

import json
from pathlib import Path

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
