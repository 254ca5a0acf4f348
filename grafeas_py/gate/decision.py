"""What the gate answers: a decision, the violations behind it, and the API's camelCase JSON form of both."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Breakglass

ALLOW = "ALLOW"
DENY = "DENY"
ALLOW_WITH_WARNINGS = "ALLOW_WITH_WARNINGS"


@dataclass(frozen=True)
class Violation:
    """One finding of one rule: a stable code, a message a person can act on, and the occurrences it rests on."""

    rule: str  # a rule name (model.RULE_NAMES), or "input" for occurrences the gate cannot read at all
    mode: str  # the mode of the rule that found it: "enforce", "warn" or "dryrun"
    code: str  # stable, upper snake case: SEVERITY_EXCEEDED, TAG_NOT_DIGEST, ...
    message: str
    evidence: list[str] = field(default_factory=list)  # occurrence names

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "mode": self.mode,
            "code": self.code,
            "message": self.message,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Decision:
    """The gate's answer for one artifact.

    - `violations`: findings of enforce-mode rules. Any of them makes the decision DENY.
    - `warnings`: findings of warn-mode rules (they make an ALLOW an ALLOW_WITH_WARNINGS) and of
      dryrun-mode rules (what would have been denied; they never change the decision).
    - `breakglass`: set when a breakglass turned a DENY into an ALLOW; `violations` are kept.
    - `exempted`: findings an unexpired exemption waived, kept for the audit trail.
    - `allow_pattern`: the allow pattern that skipped every check, if one did.
    - `used_occurrences`: names of the occurrences the rules read, sorted.
    """

    allowed: bool
    decision: str  # ALLOW | DENY | ALLOW_WITH_WARNINGS
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    breakglass: Breakglass | None = None
    exempted: list[Violation] = field(default_factory=list)
    allow_pattern: str | None = None
    used_occurrences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The API's JSON body; the HTTP layer adds policyRevision and evaluateTime."""
        body: dict = {
            "allowed": self.allowed,
            "decision": self.decision,
            "violations": [violation.to_dict() for violation in self.violations],
            "warnings": [warning.to_dict() for warning in self.warnings],
            "usedOccurrences": list(self.used_occurrences),
        }
        if self.breakglass is not None:
            body["breakglass"] = {"justification": self.breakglass.justification}
        if self.exempted:
            body["exempted"] = [violation.to_dict() for violation in self.exempted]
        if self.allow_pattern is not None:
            body["allowPattern"] = self.allow_pattern
        return body


def decide(
    findings: list[Violation],
    exempted: list[Violation],
    used: list[str],
    breakglass: Breakglass | None,
    allow_pattern: str | None = None,
) -> Decision:
    """Turn every rule's findings into a decision: only enforce-mode findings deny."""
    violations = [finding for finding in findings if finding.mode == "enforce"]
    warnings = [finding for finding in findings if finding.mode != "enforce"]
    if violations:
        if breakglass is not None:
            return Decision(True, ALLOW, violations, warnings, breakglass, exempted, allow_pattern, used)
        return Decision(False, DENY, violations, warnings, None, exempted, allow_pattern, used)
    outcome = ALLOW_WITH_WARNINGS if any(warning.mode == "warn" for warning in warnings) else ALLOW
    return Decision(True, outcome, [], warnings, None, exempted, allow_pattern, used)
