"""Rego rules through regopy, for real when it is installed; a clear error when it is not."""

from __future__ import annotations

import time

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate import evaluate, notes_needed, parse_policy, rego_worker
from grafeas_py.gate import rego as rego_module
from tests.unit.gate.builders import NOW, OTHER_URI, URI, codes, vulnerability

pytest.importorskip("regopy")

CRITICAL_DENY = """\
package gate
import rego.v1

deny contains {"msg": sprintf("%s is critical", [o.noteName]), "code": "CRITICAL_VULN", "evidence": [o.name]} if {
  some o in input.occurrences
  o.kind == "VULNERABILITY"
  o.vulnerability.effectiveSeverity == "CRITICAL"
}

warn contains sprintf("%d occurrences, checked at %s", [count(input.occurrences), input.now]) if {
  count(input.occurrences) > 1
}
"""


def test_without_regopy_a_parsed_rego_policy_denies(monkeypatch):
    policy = parse_policy({"rego": CRITICAL_DENY})
    monkeypatch.setattr(rego_module, "available", lambda: False)
    result = evaluate(policy, URI, [], NOW)
    assert (result.decision, codes(result.violations)) == ("DENY", ["EVALUATION_ERROR"])
    assert "grafeas-py[rego]" in result.violations[0].message


def test_deny_and_warn():
    critical, high = vulnerability(severity="CRITICAL"), vulnerability("CVE-2024-1", "HIGH")
    elsewhere = {**vulnerability(severity="CRITICAL"), "resourceUri": OTHER_URI}
    result = evaluate(parse_policy({"rego": CRITICAL_DENY}), URI, [critical, high, elsewhere], NOW)
    assert result.decision == "DENY"
    (violation,) = result.violations
    assert (violation.rule, violation.mode, violation.code) == ("rego", "enforce", "CRITICAL_VULN")
    assert violation.message == "projects/goog-vulnz/notes/CVE-2023-1234 is critical"
    assert violation.evidence == [critical["name"]]
    (warning,) = result.warnings
    # Only the occurrences on the artifact reach Rego, with the evaluation time.
    assert (warning.mode, warning.code, warning.message) == (
        "warn",
        "REGO_WARN",
        "2 occurrences, checked at 2026-06-01T12:00:00Z",
    )


def test_the_input_holds_the_notes_of_the_occurrences_that_exist():
    """A module may read any occurrence's note, so every one is needed; those not given are absent."""
    module = 'package gate\nimport rego.v1\nwarn contains concat(",", object.keys(input.notes)) if { true }\n'
    policy = parse_policy({"rego": module})
    mine, other = vulnerability(), vulnerability("CVE-2024-1")
    assert notes_needed(policy, [mine, other]) == {mine["noteName"], other["noteName"]}
    notes = {mine["noteName"]: {"name": mine["noteName"], "kind": "VULNERABILITY"}}
    [warning] = evaluate(policy, URI, [mine, other], NOW, notes=notes).warnings
    assert warning.message == mine["noteName"]
    [warning] = evaluate(policy, URI, [mine], NOW).warnings  # given no notes: none
    assert warning.message == ""


def test_warn_only_allows_with_warnings():
    policy = parse_policy({"rego": CRITICAL_DENY})
    result = evaluate(policy, URI, [vulnerability(), vulnerability()], NOW)
    assert (result.decision, codes(result.warnings)) == ("ALLOW_WITH_WARNINGS", ["REGO_WARN"])


@pytest.mark.parametrize(
    "mode, decision, modes", [("warn", "ALLOW_WITH_WARNINGS", ["warn"]), ("dryrun", "ALLOW", ["dryrun"])]
)
def test_rego_mode(mode, decision, modes):
    policy = parse_policy({"rego": {"module": CRITICAL_DENY, "mode": mode}})
    result = evaluate(policy, URI, [vulnerability(severity="CRITICAL")], NOW)
    assert result.decision == decision
    assert [w.mode for w in result.warnings] == modes


def test_plain_string_messages():
    module = 'package gate\nimport rego.v1\ndeny contains "no" if { input.resourceUri != "" }\n'
    result = evaluate(parse_policy({"rego": module}), URI, [], NOW)
    assert [(v.code, v.message) for v in result.violations] == [("REGO_DENY", "no")]


@pytest.mark.parametrize(
    "module, says",
    [
        ('package gate\ndeny[msg] { msg := "x" }\n', "line 2: `deny[...]` is Rego v0 syntax"),
        ('package gate\nimport rego.v1\ndeny := {"a": 1}\n', "data.gate.deny is an object, not a set"),
        (
            "package gate\nimport rego.v1\ndeny contains msg if {\n  msg := \n}\n",
            "gate.rego:4:7: Invalid assignment operator",
        ),
        ("package gate\nimport rego.v1\ndeny contains x if { x := nosuch(1) }\n", "Function not found: nosuch"),
        ("package gate\nimport rego.v1\na if { b }\nb if { a }\ndeny contains 1 if { a }\n", "Recursion detected"),
        (
            "package gate\nimport rego.v1\nx := 1 if { true }\nx := 2 if { true }\ndeny contains x if { true }\n",
            "evaluation failed",
        ),
        (
            "package gate\nimport rego.v1\ndeny contains 42 if { true }\n",
            "must be a string or an object with a string msg",
        ),
        ('package other\nimport rego.v1\ndeny contains "x" if { true }\n', "must declare `package gate`"),
        # Gatekeeper's rule name: uploaded, it would never deny
        (
            'package gate\nimport rego.v1\nviolation contains {"msg": "x"} if { true }\n',
            "defines no `deny` or `warn` rule, so it could never deny: the gate reads only those two (it defines "
            "`violation`)",
        ),
        ("package gate\n", "defines no `deny` or `warn` rule"),
    ],
)
def test_bad_module_is_refused_on_upload(module, says):
    with pytest.raises(InvalidArgument) as caught:
        parse_policy({"rego": module})
    assert "invalid policy: rego: " in caught.value.message
    assert says in caught.value.message


def test_a_complete_deny_rule_undefined_on_the_smoke_input_is_kept():
    module = 'package gate\nimport rego.v1\ndeny := {"no"} if { count(input.occurrences) > 0 }\n'
    assert parse_policy({"rego": module}).rego.module == module


def test_bad_module_in_object_form_names_the_module_field():
    with pytest.raises(InvalidArgument, match="rego.module: the module must declare `package gate`"):
        parse_policy({"rego": {"module": "package x\n"}})


def test_runtime_error_denies():
    module = (
        "package gate\nimport rego.v1\n"
        'deny contains x if { some o in input.occurrences; o.kind == "BUILD"; x := nosuch(o) }\n'
    )
    policy = parse_policy({"rego": module})
    result = evaluate(policy, URI, [{"name": "projects/p/occurrences/b", "kind": "BUILD", "resourceUri": URI}], NOW)
    assert (result.decision, codes(result.violations)) == ("DENY", ["EVALUATION_ERROR"])
    assert "Function not found: nosuch" in result.violations[0].message


@pytest.mark.parametrize("mode", ["enforce", "dryrun"])
def test_a_failing_builtin_is_an_error_not_an_undefined_deny(mode):
    # OPA's default leaves the rule undefined, so the deny below quietly did not deny.
    module = 'package gate\nimport rego.v1\ndeny contains "too many" if { 1 / (count(input.occurrences) - 1) > 0 }\n'
    policy = parse_policy({"rego": {"module": module, "mode": mode}})
    result = evaluate(policy, URI, [{"name": "projects/p/occurrences/b", "kind": "BUILD", "resourceUri": URI}], NOW)
    assert (result.decision, codes(result.violations)) == ("DENY", ["EVALUATION_ERROR"]), result


def test_a_module_cannot_read_the_servers_environment(monkeypatch):
    # opa.runtime().env is the process environment: the worker used to inherit the server's, with
    # GRAFEAS_DATABASE_URL, GRAFEAS_AUDIT_KEY and GRAFEAS_SECRET_KEY in it.
    monkeypatch.setenv("GRAFEAS_AUDIT_KEY", "canary-audit-key")
    rego_worker._worker().stop()  # the next evaluation starts a worker from this environment
    module = "package gate\nimport rego.v1\ndeny contains json.marshal(opa.runtime().env) if { true }\n"
    result = evaluate(parse_policy({"rego": module}), URI, [], NOW)
    [violation] = [v for v in result.violations if v.rule == "rego"]
    assert "canary-audit-key" not in violation.message and "GRAFEAS" not in violation.message
    assert "PATH" in violation.message  # the module ran and saw the environment it is given


def test_runaway_module_is_stopped(monkeypatch):
    slow = (
        "package gate\nimport rego.v1\n"
        "deny contains x if { count(input.occurrences) > 0; some a in numbers.range(1, 5000); "
        "some b in numbers.range(1, 5000); x := a * b; x < 0 }\n"
    )
    policy = parse_policy({"rego": slow})
    monkeypatch.setattr(rego_module, "EVALUATION_TIMEOUT", 0.3)
    result = evaluate(policy, URI, [vulnerability()], NOW)
    assert (result.decision, codes(result.violations)) == ("DENY", ["EVALUATION_ERROR"])
    assert "took longer than 0.3 s and was stopped" in result.violations[0].message
    # The next evaluation gets a fresh worker.
    assert evaluate(parse_policy({"rego": CRITICAL_DENY}), URI, [], NOW).decision == "ALLOW"


def test_a_stopped_worker_is_replaced_before_the_next_evaluation(monkeypatch):
    """The next evaluation after a timeout waited for a new worker to start (about 1 s on a busy machine)
    within its own deadline; the replacement now starts as soon as the old worker is killed."""
    policy = parse_policy({"rego": CRITICAL_DENY})
    monkeypatch.setattr(rego_module, "EVALUATION_TIMEOUT", 0.0)  # no answer comes in no time
    assert "was stopped" in evaluate(policy, URI, [vulnerability()], NOW).violations[0].message
    worker = rego_worker._worker()
    deadline = time.monotonic() + rego_worker.START_TIMEOUT
    while worker._process is None and time.monotonic() < deadline:  # started with no evaluation asking
        time.sleep(0.01)
    with worker._lock:  # once it is ready
        replacement = worker._process
        assert replacement is not None and replacement.poll() is None
    monkeypatch.setattr(rego_module, "EVALUATION_TIMEOUT", 5.0)
    assert evaluate(policy, URI, [], NOW).decision == "ALLOW"
    assert worker._process is replacement
