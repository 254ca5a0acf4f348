"""CVSS v2 and v3 vectors and scores as Grafeas `CVSS` messages.

Scanners give a vector string and a base score; Grafeas wants the base metrics as enums. Metrics a
vector does not carry, or carries with a value CVSS does not define, are left out rather than
refused: a vector is advisory text from a vulnerability database, not part of the report's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# The codec's own float32 rounding, so scores equal their canonical form exactly.
from grafeas_py.wire.codec import _shortest_float32

_IMPACT_V3 = {"H": "IMPACT_HIGH", "L": "IMPACT_LOW", "N": "IMPACT_NONE"}
_V3_METRICS = {
    "AV": ("attackVector", {"N": "NETWORK", "A": "ADJACENT", "L": "LOCAL", "P": "PHYSICAL"}, "ATTACK_VECTOR_"),
    "AC": ("attackComplexity", {"L": "LOW", "H": "HIGH"}, "ATTACK_COMPLEXITY_"),
    "PR": ("privilegesRequired", {"N": "NONE", "L": "LOW", "H": "HIGH"}, "PRIVILEGES_REQUIRED_"),
    "UI": ("userInteraction", {"N": "NONE", "R": "REQUIRED"}, "USER_INTERACTION_"),
    "S": ("scope", {"U": "UNCHANGED", "C": "CHANGED"}, "SCOPE_"),
    "C": ("confidentialityImpact", {"H": "HIGH", "L": "LOW", "N": "NONE"}, "IMPACT_"),
    "I": ("integrityImpact", {"H": "HIGH", "L": "LOW", "N": "NONE"}, "IMPACT_"),
    "A": ("availabilityImpact", {"H": "HIGH", "L": "LOW", "N": "NONE"}, "IMPACT_"),
}
_V2_METRICS = {
    "AV": ("attackVector", {"N": "NETWORK", "A": "ADJACENT", "L": "LOCAL"}, "ATTACK_VECTOR_"),
    "AC": ("attackComplexity", {"L": "LOW", "M": "MEDIUM", "H": "HIGH"}, "ATTACK_COMPLEXITY_"),
    "Au": ("authentication", {"N": "NONE", "S": "SINGLE", "M": "MULTIPLE"}, "AUTHENTICATION_"),
    "C": ("confidentialityImpact", {"N": "NONE", "P": "PARTIAL", "C": "COMPLETE"}, "IMPACT_"),
    "I": ("integrityImpact", {"N": "NONE", "P": "PARTIAL", "C": "COMPLETE"}, "IMPACT_"),
    "A": ("availabilityImpact", {"N": "NONE", "P": "PARTIAL", "C": "COMPLETE"}, "IMPACT_"),
}


@dataclass(frozen=True, slots=True)
class Cvss:
    """One CVSS assessment as a scanner reports it."""

    version: int  # 2 or 3
    vector: str
    score: float | None


def score(value: float | None) -> float | None:
    """A score as the float32 the canonical form holds; None when that is 0, which the form omits."""
    return (_shortest_float32(value) or None) if value else None


def to_grafeas(cvss: Cvss) -> dict:
    """The Grafeas CVSS message (also valid as the note's CVSSv3 for version 3)."""
    base = score(cvss.score)
    out = {"baseScore": base} if base else {}
    out.update(_metrics(cvss.version, cvss.vector))
    return out


@lru_cache(maxsize=1024)
def _metrics(version: int, vector: str) -> tuple[tuple[str, str], ...]:
    """The enum members a vector sets; cached, as a large report repeats a few dozen vectors."""
    metrics = _V3_METRICS if version == 3 else _V2_METRICS
    found = []
    for part in vector.strip("()").split("/"):
        name, _, value = part.partition(":")
        metric = metrics.get(name)
        if metric and value in metric[1]:
            found.append((metric[0], metric[2] + metric[1][value]))
    return tuple(found)


def version_of(vector: str, stated: str = "") -> int | None:
    """The CVSS major version (2 or 3) of a vector, from its prefix or the version a scanner states."""
    if vector.startswith("CVSS:3"):
        return 3
    if vector.startswith("CVSS:"):
        return None  # CVSS 4 and later: Grafeas's cvssV4 metrics differ; not mapped yet
    if stated.startswith("3"):
        return 3
    return 2 if vector or stated.startswith("2") else None
