"""The validated policy: typed, frozen dataclasses built by `policy.parse_policy` from a policy document.

Field names are the snake_case forms of the document's camelCase keys; docs/policy.md describes
each one. Rules left out of the document are None and are not checked, except `identity`, which
always applies (relax it with `allowTags` or a non-enforcing mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pysequoia import Cert

from grafeas_py.errors import InvalidArgument

from . import pgp
from .keys import Algorithm, PublicKeyObject, verify
from .licences import Licence
from .patterns import Pattern

MODES = ("enforce", "warn", "dryrun")
SEVERITIES = ("SEVERITY_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# A maximum severity: a Grafeas severity, or BLOCK_ALL (nothing passes) or ALLOW_ALL (everything passes).
THRESHOLDS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "BLOCK_ALL", "ALLOW_ALL")
RULE_NAMES = (
    "artifacts",
    "identity",
    "vulnerabilities",
    "scan",
    "provenance",
    "tests",
    "attestations",
    "compliance",
    "secrets",
    "packages",
    "rego",
)


@dataclass(frozen=True)
class PublicKey:
    """One attestor key, PKIX or OpenPGP; `key` is the loaded key object, built once when the policy is parsed."""

    id: str
    algorithm: Algorithm | None  # None for an OpenPGP key, whose signatures name their own algorithms
    material: str  # the PEM or the ASCII-armored key, as the policy gives it
    key: PublicKeyObject | Cert = field(compare=False, repr=False)

    @property
    def is_pgp(self) -> bool:
        return self.algorithm is None

    def verifies(self, signature: bytes, data: bytes, now: datetime) -> bool:
        """Whether `signature` is this key's signature of `data`, judged at `now`."""
        if self.is_pgp:
            return pgp.verifies(self.key, signature, data, now)
        return verify(self.key, self.algorithm, signature, data)

    def named_by(self, key_id: str) -> bool:
        """Whether a signature's key id names this key (for OpenPGP: its fingerprint, in any case, as a URI or not)."""
        return (pgp.normalize_key_id(key_id) if self.is_pgp else key_id) == self.id


@dataclass(frozen=True)
class Attestor:
    """Who vouches for artifacts: occurrences on `note_name`, signed by one of `public_keys`."""

    name: str
    note_name: str
    public_keys: tuple[PublicKey, ...]

    def keys_for(self, key_id: str) -> tuple[PublicKey, ...]:
        """The keys a signature with this key id may come from; a signature without an id may come from any."""
        if not key_id:
            return self.public_keys
        return tuple(key for key in self.public_keys if key.named_by(key_id))


@dataclass(frozen=True)
class ArtifactRule:
    """Artifacts that skip every check (allow) or are always refused (deny; wins over allow)."""

    mode: str = "enforce"
    allow_patterns: tuple[Pattern, ...] = ()
    deny_patterns: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class IdentityRule:
    """Images by digest, files with a sha256: the gate must judge the bytes that will run."""

    mode: str = "enforce"
    allow_tags: bool = False


@dataclass(frozen=True)
class CveExemption:
    """A vulnerability accepted on purpose, until `expires` (never, when None)."""

    cve: str  # a bare id (CVE-2023-1234) or a full note name (projects/p/notes/CVE-2023-1234)
    justification: str
    expires: datetime | None = None


@dataclass(frozen=True)
class VulnerabilityRule:
    """Severity ceilings for fixable and unfixable vulnerabilities, a CVSS ceiling and CVE exemptions."""

    mode: str = "enforce"
    maximum_fixable_severity: str = "ALLOW_ALL"
    maximum_unfixable_severity: str = "ALLOW_ALL"
    maximum_cvss_score: float | None = None
    exemptions: tuple[CveExemption, ...] = ()


@dataclass(frozen=True)
class ScanRule:
    """A successful vulnerability scan no older than `max_age`."""

    mode: str = "enforce"
    max_age: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class ProvenanceRule:
    """A build occurrence from a trusted builder, built from a trusted source (empty: any)."""

    mode: str = "enforce"
    builder_ids: tuple[Pattern, ...] = ()
    source_uris: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class TestResultRule:
    """A passing in-toto test-result attestation for the artifact's digest, optionally signed by attestors."""

    __test__ = False  # not a pytest test class, despite the name

    mode: str = "enforce"
    allow_warned: bool = False
    signed_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttestationRule:
    """A valid, signed attestation from every listed attestor; an in-toto statement counts only with one of
    `predicate_types`."""

    mode: str = "enforce"
    attestors: tuple[str, ...] = ()
    predicate_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComplianceRule:
    """No non-compliant finding on any of the listed compliance notes."""

    mode: str = "enforce"
    note_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretRule:
    """No exposed secret (a SECRET occurrence) in the artifact, except of the kinds allowed."""

    mode: str = "enforce"
    allow_kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeniedPackage:
    """A package name pattern, and version patterns (empty: every version)."""

    name: Pattern
    versions: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class PackageRule:
    """Packages and licences that must not appear in the artifact."""

    mode: str = "enforce"
    deny_packages: tuple[DeniedPackage, ...] = ()
    deny_licenses: tuple[Licence, ...] = ()  # by current SPDX id, compared case-insensitively


@dataclass(frozen=True)
class RegoRule:
    """A Rego v1 module in `package gate`: its `deny` set uses `mode`, its `warn` set only warns."""

    module: str
    mode: str = "enforce"


@dataclass(frozen=True)
class Rules:
    """Every rule of a policy; None means the rule is not checked."""

    artifacts: ArtifactRule | None = None
    identity: IdentityRule = IdentityRule()
    vulnerabilities: VulnerabilityRule | None = None
    scan: ScanRule | None = None
    provenance: ProvenanceRule | None = None
    tests: TestResultRule | None = None
    attestations: AttestationRule | None = None
    compliance: ComplianceRule | None = None
    secrets: SecretRule | None = None
    packages: PackageRule | None = None


@dataclass(frozen=True)
class Exemption:
    """One rule waived for the artifacts a pattern matches, until `expires` (never, when None)."""

    artifact: Pattern
    rule: str
    justification: str
    expires: datetime | None = None


@dataclass(frozen=True)
class Policy:
    """A parsed, validated deploy-gate policy; build it once per policy revision and reuse it."""

    rules: Rules = Rules()
    attestors: tuple[Attestor, ...] = ()
    exemptions: tuple[Exemption, ...] = ()
    rego: RegoRule | None = None
    description: str = ""
    attestors_by_name: dict[str, Attestor] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attestors_by_name", {attestor.name: attestor for attestor in self.attestors})


@dataclass(frozen=True)
class Breakglass:
    """An emergency override given at evaluation time; the justification is recorded with the decision."""

    justification: str

    def __post_init__(self) -> None:
        if not isinstance(self.justification, str) or not self.justification.strip():
            raise InvalidArgument("breakglass.justification: a breakglass needs a justification, which is recorded")
