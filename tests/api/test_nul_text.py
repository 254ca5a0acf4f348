"""Text holding the NUL character is refused with a 400 naming where it is, wherever text is stored or
searched: PostgreSQL cannot store or compare it, and refused it with a 500 (found by schemathesis)."""

import re

import pytest

NUL = "must not contain the NUL character (U+0000)"


@pytest.fixture
def policy(http, project):
    r = http.post(f"/v1/projects/{project}/policies", params={"policyId": "p"}, json={"rules": {}})
    assert r.status_code == 200, r.text
    return f"/v1/projects/{project}/policies/p"


@pytest.mark.parametrize(
    "path, params, where",
    [
        ("artifacts:history", {"resourceUri": "https://a\x00b"}, "resourceUri"),
        ("occurrences", {"filter": 'resourceUri="a\x00b"'}, "filter"),
        ("notes", {"filter": 'kind="a\x00"'}, "filter"),
        ("decisions", {"filter": 'resourceUri="a\x00b"'}, "filter"),
        ("occurrences:vulnerabilitySummary", {"filter": 'resourceUri="a\x00b"'}, "filter"),
    ],
    ids=["artifact-history", "occurrences", "notes", "decisions", "summary"],
)
def test_query_parameters(http, project, path, params, where):
    r = http.get(f"/v1/projects/{project}/{path}", params=params)
    assert r.status_code == 400 and f"{where}: {NUL}" in r.json()["error"]["message"], r.text


@pytest.mark.parametrize(
    "document, where",
    [
        ({"description": "a\x00b"}, "description"),
        ({"rules": {"artifacts": {"allowPatterns": ["gcr.io/\x00/**"]}}}, "rules.artifacts.allowPatterns[0]"),
        ({"rules": {}, "exemptions": [{"artifact": "x", "rule": "scan", "justification": "j\x00"}]}, "exemptions[0]"),
    ],
    ids=["description", "pattern", "exemption"],
)
def test_policy_documents(http, project, document, where):
    r = http.post(f"/v1/projects/{project}/policies", params={"policyId": "q"}, json=document)
    assert r.status_code == 400 and where in r.json()["error"]["message"] and NUL in r.text, r.text
    assert http.get(f"/v1/projects/{project}/policies/q").status_code == 404


def test_policy_documents_in_yaml(http, project, policy):
    text = 'description: "a\\0b"\nrules: {}\n'
    r = http.put(policy, data=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400 and f"description: {NUL}" in r.json()["error"]["message"], r.text
    assert http.get(policy).json()["revision"] == 1


def test_evaluated_artifacts(http, project, policy):
    r = http.post(f"{policy}:evaluate", json={"resourceUri": "https://gcr.io/a\x00b"})
    assert r.status_code == 400 and f"resourceUri {NUL}" in r.json()["error"]["message"], r.text
    assert http.get(f"/v1/projects/{project}/decisions").json() == {}


def test_binding_members(http, project):
    binding = {"project": project, "role": "occurrencesViewer", "member": "token:ci\x00"}
    r = http.post("/v1/admin/bindings", json=binding)
    assert r.status_code == 400 and "binding member" in r.json()["error"]["message"], r.text


def _routes_with_path_variables(app) -> list[tuple[str, str, str]]:
    """(method, rule, variable) for every route and each of its id variables (the `segment` converter's,
    which percent-decodes: a static file's path stays as sent)."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found += [(method, rule.rule, name) for name in re.findall(r"<segment:(\w+)>", rule.rule)]
    return found


def test_every_path_variable_holding_nul_is_a_400_naming_it(app, http):
    """DELETE /v1/admin/tokens/a%00b was a 500 on PostgreSQL: the token name went to the database unchecked."""
    routes = _routes_with_path_variables(app)
    assert len(routes) > 50  # every Grafeas, gate, history and admin route
    for method, rule, name in routes:
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m, name=name: "a%00b" if m.group(1) == name else "x", rule)
        r = http.request(method, path, json={})
        message = f"the {name} in the path {NUL}"
        assert r.status_code == 400 and r.json()["error"]["message"] == message, (method, path, r.text)
