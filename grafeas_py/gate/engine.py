"""The deploy gate's decision: `evaluate(policy, resource_uri, occurrences, now, breakglass, notes)`, a pure function.

Order of evaluation:

1. If `rules.artifacts.allowPatterns` matches the resource URI and no deny pattern does, the
   decision is ALLOW with no other check (`allow_pattern` says which pattern). A deny pattern of a
   warn or dryrun `artifacts` rule does not stop that: its finding is a warning beside the ALLOW.
2. Occurrences that are not readable at all (not an object, no name) are violations of the
   pseudo-rule `input`, in enforce mode. Occurrences on other resources are ignored; `https://X`
   and `X` name the same resource.
3. Every rule is checked: identity, artifacts (deny patterns), vulnerabilities, scan,
   provenance, tests, attestations, compliance, secrets, packages, rego. A rule with an unexpired
   exemption for this artifact is not checked; a RULE_EXEMPTED record goes to `exempted`. An
   expired exemption is named in the rule's messages.
4. Modes: findings of enforce rules are `violations` and deny; findings of warn rules are
   `warnings` and turn ALLOW into ALLOW_WITH_WARNINGS; findings of dryrun rules are `warnings`
   too (what would have been denied) but never change the decision.
5. Fail closed: an unexpected exception in a rule check becomes an enforce-mode EVALUATION_ERROR
   violation (whatever the rule's mode), and so does a Rego module that fails or runs too long.
6. A breakglass turns DENY into ALLOW, keeping the violations and recording the justification.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from grafeas_py.errors import InvalidArgument

from . import rego
from .artifacts import canonical_artifact, canonical_uri, parse_artifact, same_resource
from .attestation_checks import check_attestations, check_tests
from .checks import (
    check_compliance,
    check_deny_patterns,
    check_identity,
    check_packages,
    check_provenance,
    check_scan,
    check_secrets,
    deny_pattern_of,
)
from .context import Context, Finding, canonical_note_name
from .decision import Decision, Violation, decide
from .model import Breakglass, Exemption, Policy
from .patterns import any_match
from .timeutil import format_timestamp, unix_nanos
from .vulnerability_checks import check_vulnerabilities, vulnerability_notes_needed

log = logging.getLogger(__name__)

CHECKS: dict[str, Callable] = {
    "identity": check_identity,
    "artifacts": check_deny_patterns,
    "vulnerabilities": check_vulnerabilities,
    "scan": check_scan,
    "provenance": check_provenance,
    "tests": check_tests,
    "attestations": check_attestations,
    "compliance": check_compliance,
    "secrets": check_secrets,
    "packages": check_packages,
}


def evaluate(
    policy: Policy,
    resource_uri: str,
    occurrences: list[dict],
    now: datetime,
    breakglass: Breakglass | None = None,
    notes: Mapping[str, dict] | None = None,
) -> Decision:
    """Decide whether the artifact at `resource_uri` may be deployed under `policy`, given its occurrences.

    `notes` holds, by name, those of the notes `notes_needed` names that exist: a note it names and
    `notes` lacks was deleted. Without `notes`, occurrences are judged on their
    own fields alone."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not isinstance(resource_uri, str) or not resource_uri:
        raise InvalidArgument("resourceUri is required: the URI of the artifact to check")
    # Patterns and exemptions see the image as a runtime pulls it (`canonical_uri`), so that another
    # spelling of the same image (a tag beside the digest, Docker Hub's aliases) changes nothing.
    # A URI that could walk out of a pattern's path (`..`, `%2e%2e`, `\\`) is never allowed or exempted by one.
    canonical, safe = canonical_artifact(resource_uri)
    artifacts = policy.rules.artifacts
    if artifacts is not None and safe:
        allowed_by = any_match(artifacts.allow_patterns, canonical)
        denied = deny_pattern_of(artifacts, resource_uri) is not None
        # Deny wins over allow; a warn or dryrun deny pattern is reported, and the allow pattern still applies.
        if allowed_by is not None and not (denied and artifacts.mode == "enforce"):
            ctx = Context(parse_artifact(resource_uri), now, [], policy.attestors_by_name, notes)
            found = _run("artifacts", artifacts, artifacts.mode, check_deny_patterns, ctx) if denied else []
            warnings = [_violation("artifacts", mode, finding, []) for finding, mode in found]
            return decide(warnings, [], [], breakglass, allowed_by.text)
    on_artifact, findings = _select(resource_uri, occurrences)
    ctx = Context(parse_artifact(resource_uri), now, on_artifact, policy.attestors_by_name, notes)
    exempted: list[Violation] = []
    for name, rule, mode, check in _enabled(policy):
        exemptions = [e for e in policy.exemptions if e.rule == name and safe and e.artifact.matches(canonical)]
        active = next((e for e in exemptions if e.expires is None or e.expires > now), None)
        if active is not None:
            exempted.append(_exemption_record(active, name, mode, resource_uri))
            continue
        for finding, finding_mode in _run(name, rule, mode, check, ctx):
            violation = _violation(name, finding_mode, finding, exemptions)
            (exempted if finding.waived else findings).append(violation)
    return decide(findings, exempted, sorted(ctx.used), breakglass)


def notes_needed(policy: Policy, occurrences: list[dict]) -> set[str]:
    """The names of the notes `evaluate` reads, to be given as its `notes`: those of the VULNERABILITY
    occurrences that leave their severity (or CVSS score, under a maximum) to their note, the assessment
    notes of their VEX states, which say which packages an assessment covers, the notes of DISCOVERY
    occurrences under a scan rule, which say what was analysed, a compliance rule's notes, to tell a
    misspelt one, under denied licences the notes of PACKAGE occurrences that declare none, which may,
    and, for a Rego module, which may read any of them, the notes of all the occurrences."""
    needed = vulnerability_notes_needed(policy.rules.vulnerabilities, occurrences)
    if policy.rules.scan is not None:
        needed.update(_note_names(o for o in occurrences if isinstance(o, dict) and o.get("kind") == "DISCOVERY"))
    if policy.rules.compliance is not None:
        needed.update(policy.rules.compliance.note_names)
    if policy.rules.packages is not None and policy.rules.packages.deny_licenses:
        needed.update(_note_names(o for o in occurrences if _declares_no_licence(o)))
    if policy.rego is not None:
        needed.update(_note_names(occurrences))
    return needed


def _declares_no_licence(occurrence) -> bool:
    """A PACKAGE occurrence without a licence expression of its own, which its note may declare."""
    if not isinstance(occurrence, dict) or occurrence.get("kind") != "PACKAGE":
        return False
    package = occurrence.get("package")
    licence = package.get("license") if isinstance(package, dict) else None
    return not (isinstance(licence, dict) and licence.get("expression"))


def _note_names(occurrences: Iterable) -> set[str]:
    """The canonical names of the notes these occurrences are on."""
    names = (canonical_note_name(o.get("noteName")) for o in occurrences if isinstance(o, dict))
    return {name for name in names if isinstance(name, str) and name}


def _select(resource_uri: str, occurrences: list[dict]) -> tuple[list[dict], list[Violation]]:
    """The occurrences on this artifact, and a violation for each that cannot be read at all."""
    if not isinstance(occurrences, list | tuple):
        problem = f"occurrences must be a list, got {type(occurrences).__name__}"
        return [], [Violation("input", "enforce", "OCCURRENCE_MALFORMED", problem)]
    selected, problems = [], []
    on_artifact = functools.lru_cache(maxsize=16)(lambda uri: same_resource(uri, resource_uri))
    for index, occurrence in enumerate(occurrences):
        problem = _unreadable(occurrence)
        if problem is not None:
            name = occurrence.get("name") if isinstance(occurrence, dict) else None
            evidence = [name] if isinstance(name, str) and name else []
            message = f"occurrence #{index} cannot be read ({problem}); the gate cannot tell what it says"
            problems.append(Violation("input", "enforce", "OCCURRENCE_MALFORMED", message, evidence))
        elif on_artifact(occurrence.get("resourceUri", "")):
            selected.append(occurrence)
    return selected, problems


def _unreadable(occurrence: object) -> str | None:
    if not isinstance(occurrence, dict):
        return f"it is {type(occurrence).__name__}, not an object"
    if not isinstance(occurrence.get("name"), str) or not occurrence["name"]:
        return "it has no name"
    for key in ("kind", "resourceUri", "noteName"):
        if key in occurrence and not isinstance(occurrence[key], str):
            return f"{key} is {type(occurrence[key]).__name__}, not text"
    return None


def _enabled(policy: Policy):
    """(name, rule, mode, check) for every rule the policy checks, in a fixed order."""
    for name, check in CHECKS.items():
        rule = getattr(policy.rules, name)
        if rule is not None:
            yield name, rule, rule.mode, check
    if policy.rego is not None:
        yield "rego", policy.rego, policy.rego.mode, None


def _run(name: str, rule, mode: str, check: Callable | None, ctx: Context) -> list[tuple[Finding, str]]:
    """The rule's findings with their modes; an unexpected error is an enforce-mode EVALUATION_ERROR."""
    try:
        if name == "rego":
            return _check_rego(rule, ctx)
        advisory = "dryrun" if mode == "dryrun" else "warn"
        return [(finding, advisory if finding.advisory else mode) for finding in check(rule, ctx)]
    except rego.RegoFailure as error:
        message = f"the Rego module could not be evaluated: {error}; denying rather than allowing unchecked"
        return [(Finding("EVALUATION_ERROR", message), "enforce")]
    except Exception as error:  # fail closed: a bug must never turn into an allow
        log.exception("deploy gate: rule %s failed on %s", name, ctx.uri)
        message = (
            f"the {name} rule could not be evaluated ({type(error).__name__}: {error}); "
            "denying rather than allowing unchecked"
        )
        return [(Finding("EVALUATION_ERROR", message), "enforce")]


def _check_rego(rule, ctx: Context) -> list[tuple[Finding, str]]:
    # The notes too: what a vulnerability leaves to its note (severity, CVSS, fixes) a module must be able
    # to read, or a finding without a severity of its own would pass a rule written against the note's.
    given = ctx.notes or {}
    notes = {name: given[name] for name in sorted(_note_names(ctx.occurrences)) if name in given}
    input_doc = {
        # The form patterns see: as written, `startswith(input.resourceUri, "https://eu.gcr.io/")` let
        # `eu.gcr.io/...` and `https://EU.GCR.IO/...`, the same image, through.
        "resourceUri": canonical_uri(ctx.uri),
        "resourceUriAsWritten": ctx.uri,
        "occurrences": ctx.occurrences,
        "notes": notes,
        "now": format_timestamp(ctx.now),
        # regopy's time.parse_rfc3339_ns refuses the `Z` every time here ends in (docs/policy.md, Rego).
        "nowNs": unix_nanos(ctx.now),
    }
    ctx.used.update(occurrence["name"] for occurrence in ctx.occurrences)
    result = rego.evaluate_module(rule.module, input_doc)
    warn_mode = "dryrun" if rule.mode == "dryrun" else "warn"
    found = [(Finding(m.code or "REGO_DENY", m.message, m.evidence), rule.mode) for m in result.deny]
    found += [(Finding(m.code or "REGO_WARN", m.message, m.evidence), warn_mode) for m in result.warn]
    return found


def _violation(rule: str, mode: str, finding: Finding, exemptions: list[Exemption]) -> Violation:
    message = finding.message
    if exemptions and finding.code != "EVALUATION_ERROR":
        latest = max(exemptions, key=lambda e: e.expires)
        expired = format_timestamp(latest.expires)
        message += f"; the exemption for this rule ({latest.justification}) expired at {expired}"
    return Violation(rule, mode, finding.code, message, list(finding.evidence))


def _exemption_record(exemption: Exemption, rule: str, mode: str, resource_uri: str) -> Violation:
    until = f" until {format_timestamp(exemption.expires)}" if exemption.expires else ""
    message = (
        f"the {rule} rule is not checked for {resource_uri}: exempted by pattern {exemption.artifact.text!r}"
        f"{until}: {exemption.justification}"
    )
    return Violation(rule, mode, "RULE_EXEMPTED", message)
