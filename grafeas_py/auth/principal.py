"""Who is calling: the identity an authenticator found, and the groups it belongs to.

Principal ids are namespaced so that two ways of signing in can never name the same caller:

- `user:alice@example.com`: a person, from an OIDC provider configured to produce it;
- `token:<name>`: an API token; the name outlives rotation, so bindings survive a new token;
- `spiffe://trust.domain/ns/ci/sa/builder`: a workload's SPIFFE ID, from its client certificate;
- `cert:<name>`: a client certificate without a SPIFFE ID, named by its DNS SAN or subject CN;
- `<issuer>#<sub>` (or a configured prefix): a CI job's OIDC token, e.g. from GitHub Actions;
- `anonymous`: nobody signed in; only `GRAFEAS_AUTH=none` lets such a caller through.

Groups are member names too, always `group:<name>`, so a binding can name a group exactly as it
names a principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["user", "service", "token", "anonymous"]
KINDS: tuple[str, ...] = ("user", "service", "token", "anonymous")
GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its id, what kind of caller it is, its groups and the method that proved it."""

    id: str
    kind: Kind
    groups: frozenset[str] = field(default_factory=frozenset)
    # The authenticator that produced it: "none", "token", "oidc" or "mtls"; for logs and the audit trail.
    via: str = ""
    # Which credential of the principal's it was: a token id, an OIDC token's `jti`, a certificate's
    # SHA-256 fingerprint; "" when the method has none. After a leak, auditors ask what that one did.
    credential: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a principal id must not be empty")
        if self.id.startswith(GROUP_PREFIX):
            raise ValueError(f"a principal id cannot be a group name, got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"principal kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        bad = sorted(g for g in self.groups if not g.startswith(GROUP_PREFIX) or g == GROUP_PREFIX)
        if bad:
            raise ValueError(f"group names must look like 'group:<name>', got {bad}")

    @property
    def proof(self) -> str:
        """How it signed in, as the audit trail records it: `token:1a2b...`, `oidc:<jti>`, `mtls:<sha256>`, `none`."""
        return f"{self.via}:{self.credential}" if self.credential else self.via

    @property
    def members(self) -> frozenset[str]:
        """Every member name a binding may use to reach this principal: its id and its groups."""
        return self.groups | {self.id}


ANONYMOUS = Principal(id="anonymous", kind="anonymous", via="none")


def group(name: str) -> str:
    """The member name of a group: `group:<name>`."""
    return name if name.startswith(GROUP_PREFIX) else GROUP_PREFIX + name
