"""The deploy gate: policies checked against an artifact's occurrences, answering allow or deny."""

from .artifacts import artifact_digest
from .decision import Decision, Violation
from .engine import evaluate, notes_needed
from .model import Breakglass, Policy
from .policy import load_policy_text, parse_policy

__all__ = [
    "Breakglass",
    "Decision",
    "Policy",
    "Violation",
    "artifact_digest",
    "evaluate",
    "load_policy_text",
    "notes_needed",
    "parse_policy",
]
