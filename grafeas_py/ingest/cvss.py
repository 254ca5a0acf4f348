"""CVSS v2, v3 and v4 vectors and scores as Grafeas `CVSS` messages.

Scanners give a vector string and a base score; Grafeas wants the base metrics as enums. Metrics a
vector does not carry, or carries with a value CVSS does not define, are left out rather than
refused: a vector is advisory text from a vulnerability database, not part of the report's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# The codec's own float32 rounding, so scores equal their canonical form exactly.
from grafeas_py.wire.codec import _shortest_float32

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

_IMPACT_V4 = {"H": "HIGH", "L": "LOW", "N": "NONE"}
_V4_METRICS = {
    "AV": ("attackVector", {"N": "NETWORK", "A": "ADJACENT", "L": "LOCAL", "P": "PHYSICAL"}, "ATTACK_VECTOR_"),
    "AC": ("attackComplexity", {"L": "LOW", "H": "HIGH"}, "ATTACK_COMPLEXITY_"),
    "AT": ("attackRequirements", {"N": "NONE", "P": "PRESENT"}, "ATTACK_REQUIREMENTS_"),
    "PR": ("privilegesRequired", {"N": "NONE", "L": "LOW", "H": "HIGH"}, "PRIVILEGES_REQUIRED_"),
    "UI": ("userInteraction", {"N": "NONE", "P": "PASSIVE", "A": "ACTIVE"}, "USER_INTERACTION_"),
    "VC": ("vulnerableSystemConfidentialityImpact", _IMPACT_V4, "IMPACT_"),
    "VI": ("vulnerableSystemIntegrityImpact", _IMPACT_V4, "IMPACT_"),
    "VA": ("vulnerableSystemAvailabilityImpact", _IMPACT_V4, "IMPACT_"),
    "SC": ("subsequentSystemConfidentialityImpact", _IMPACT_V4, "IMPACT_"),
    "SI": ("subsequentSystemIntegrityImpact", _IMPACT_V4, "IMPACT_"),
    "SA": ("subsequentSystemAvailabilityImpact", _IMPACT_V4, "IMPACT_"),
    "E": ("exploitMaturity", {"A": "ATTACKED", "P": "POC", "U": "UNREPORTED", "X": "NOT_DEFINED"}, "EXPLOIT_MATURITY_"),
}
_METRICS = {2: _V2_METRICS, 3: _V3_METRICS, 4: _V4_METRICS}


@dataclass(frozen=True, slots=True)
class Cvss:
    """One CVSS assessment as a scanner reports it."""

    version: int  # 2, 3 or 4
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
    metrics = _METRICS[version]
    found = []
    for part in vector.strip("()").split("/"):
        name, _, value = part.partition(":")
        metric = metrics.get(name)
        if metric and value in metric[1]:
            found.append((metric[0], metric[2] + metric[1][value]))
    return tuple(found)


def version_of(vector: str, stated: str = "") -> int | None:
    """The CVSS major version (2, 3 or 4) of a vector, from its prefix or the version a scanner states."""
    if vector.startswith("CVSS:"):
        major = vector[len("CVSS:") : len("CVSS:") + 1]
        return int(major) if major in ("3", "4") else None  # a later version: no Grafeas field holds its metrics
    for major in ("3", "4"):
        if stated.startswith(major):
            return int(major)
    return 2 if vector or stated.startswith("2") else None
