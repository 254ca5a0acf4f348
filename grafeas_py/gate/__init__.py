"""The deploy gate: policies checked against an artifact's occurrences, answering allow or deny."""

import os

# With RUST_BACKTRACE set (some images set it), every pysequoia error captures a Rust backtrace: the first
# loads the library's debug symbols (50 MB, over 100 ms) and each one after makes a failed signature check
# five times slower. Nothing shows them (pgp.sequoia_reason drops them); panics still follow RUST_BACKTRACE.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

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
