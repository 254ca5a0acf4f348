"""Authorization: role bindings per project, and the checks the service layer makes before acting.

A binding grants one role to one member (a principal id or `group:<name>`) on one project, or on
every project with `*`. A principal holds the union of the roles bound to its id and its groups.

Denials never reveal whether something exists. Following Google's convention, a caller without the
permission always gets PERMISSION_DENIED, "permission P denied on resource R (or it may not exist)",
whether or not R exists. So the service must check before it reads: a NOT_FOUND is only ever
answered to a caller who holds the permission, and ListProjects shows only `list_visible_projects`.

`Authorizer` is immutable and precomputes each principal's permissions per project, so a check is
two dictionary look-ups. When bindings change, build a new one and swap it in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..errors import InvalidArgument, PermissionDenied
from ..names import ALL_PROJECTS, NoteRef, check_id, project_name
from .principal import ANONYMOUS, GROUP_PREFIX, Principal
from .roles import (
    NOTES_ATTACH_OCCURRENCE,
    OCCURRENCES_CREATE,
    OCCURRENCES_DELETE,
    OCCURRENCES_UPDATE,
    PROJECT_ADMIN,
    PROJECTS_LIST,
    ROLE_PERMISSIONS,
    check_permission_name,
)

_NOTHING: frozenset[str] = frozenset()
_OCCURRENCE_WRITES = (OCCURRENCES_CREATE, OCCURRENCES_UPDATE, OCCURRENCES_DELETE)
# A batch may name up to 1000 notes; the denial names this many and counts the rest.
_MAX_NAMED = 10


@dataclass(frozen=True)
class Binding:
    """`member` holds `role` on `project` (`*`: on every project, including those not yet created)."""

    project: str
    role: str
    member: str

    def __post_init__(self) -> None:
        if self.project != ALL_PROJECTS:
            check_id("binding project", self.project)
        if self.role not in ROLE_PERMISSIONS:
            raise InvalidArgument(f"unknown role {self.role!r}; roles are {', '.join(sorted(ROLE_PERMISSIONS))}")
        if (
            not self.member
            or self.member != self.member.strip()
            or self.member == GROUP_PREFIX
            or "\x00" in self.member
        ):
            raise InvalidArgument(f"binding member must be a principal id or 'group:<name>', got {self.member[:80]!r}")


# Principal ids are short (an OIDC subject, a SPIFFE ID, a token name); the limit also keeps a member
# within the request line that DeleteBinding carries it in.
MAX_MEMBER_LENGTH = 1024
_UNSEEN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format (zero-width), surrogate, line breaks


def check_new_member(member: str) -> None:
    """Rules for a member being granted a role, beyond what any stored binding meets: so that a
    project admin cannot plant bindings nobody can name again, or fake lines in a listing."""
    if len(member) > MAX_MEMBER_LENGTH:
        raise InvalidArgument(f"binding member must be at most {MAX_MEMBER_LENGTH} characters")
    if any(unicodedata.category(c) in _UNSEEN for c in member):
        raise InvalidArgument(f"binding member must not hold control or invisible characters, got {member!r}")
    if member == ALL_PROJECTS:
        raise InvalidArgument("'*' is not a wildcard member; name a principal id or 'group:<name>'")


# With GRAFEAS_AUTH=none every caller is ANONYMOUS; these bindings give it every right everywhere.
OPEN_BINDINGS: tuple[Binding, ...] = (Binding(ALL_PROJECTS, PROJECT_ADMIN, ANONYMOUS.id),)


@dataclass(frozen=True)
class ProjectScope:
    """The projects a caller may see: all of them, or the ones named."""

    everything: bool
    projects: frozenset[str]

    def __contains__(self, project: object) -> bool:
        return self.everything or project in self.projects


class Authorizer:
    """Answers "may this principal do this on this project?" from a fixed set of bindings."""

    def __init__(self, bindings: Iterable[Binding]) -> None:
        self.bindings: tuple[Binding, ...] = tuple(bindings)
        by_member: dict[str, dict[str, set[str]]] = {}
        for b in self.bindings:
            by_member.setdefault(b.member, {}).setdefault(b.project, set()).update(ROLE_PERMISSIONS[b.role])
        self._by_member = {
            member: {project: frozenset(perms) for project, perms in projects.items()}
            for member, projects in by_member.items()
        }
        # Per instance, so a new Authorizer never serves grants computed from old bindings.
        self._grants = lru_cache(maxsize=4096)(self._compute_grants)

    def _compute_grants(self, principal: Principal) -> dict[str, frozenset[str]]:
        """Project -> permissions for one principal, with the `*` grants folded into every project."""
        merged: dict[str, set[str]] = {}
        for member in principal.members:
            for project, perms in self._by_member.get(member, {}).items():
                merged.setdefault(project, set()).update(perms)
        everywhere = merged.get(ALL_PROJECTS, set())
        grants = {project: frozenset(perms | everywhere) for project, perms in merged.items()}
        grants[ALL_PROJECTS] = frozenset(everywhere)
        return grants

    def permissions(self, principal: Principal, project: str) -> frozenset[str]:
        """Every permission `principal` holds on `project` (on `*`: only those granted everywhere)."""
        grants = self._grants(principal)
        return grants.get(project, grants[ALL_PROJECTS])

    def allows(self, principal: Principal, permission: str, project: str) -> bool:
        """True when `principal` holds `permission` on `project`."""
        return check_permission_name(permission) in self.permissions(principal, project)

    def check(self, principal: Principal, permission: str, project: str, resource: str | None = None) -> None:
        """Raise PermissionDenied unless `principal` holds `permission` on `project`.

        `resource` names what the caller asked for in the message (default: the project)."""
        if not self.allows(principal, permission, project):
            raise denied(permission, [resource or project_name(project)])

    def check_occurrence_write(
        self, principal: Principal, permission: str, project: str, notes: Iterable[NoteRef]
    ) -> None:
        """Grafeas's rule for writing occurrences: `permission` (occurrences.create, .update or .delete)
        on the occurrence's project, and notes.attachOccurrence on the project of every note named.

        Pass every note of a batch at once, and for an update that changes noteName both the old and
        the new note: one denial then names all the notes refused."""
        if permission not in _OCCURRENCE_WRITES:
            raise ValueError(f"check_occurrence_write takes one of {_OCCURRENCE_WRITES}, got {permission!r}")
        self.check(principal, permission, project)
        unique = dict.fromkeys(notes)
        refused = [n.name for n in unique if not self.allows(principal, NOTES_ATTACH_OCCURRENCE, n.project)]
        if refused:
            raise denied(NOTES_ATTACH_OCCURRENCE, refused)

    def scope(self, principal: Principal, permission: str) -> ProjectScope:
        """The projects where `principal` holds `permission`: every one (a `*` grant), or those named."""
        check_permission_name(permission)
        grants = self._grants(principal)
        if permission in grants[ALL_PROJECTS]:
            return ProjectScope(everything=True, projects=frozenset())
        named = frozenset(p for p, perms in grants.items() if p != ALL_PROJECTS and permission in perms)
        return ProjectScope(everything=False, projects=named)

    def list_visible_projects(self, principal: Principal) -> ProjectScope:
        """The projects ListProjects may show `principal`: those where it holds projects.list."""
        return self.scope(principal, PROJECTS_LIST)


def denied(permission: str, resources: list[str]) -> PermissionDenied:
    """Google's wording, which admits nothing about whether the resources exist."""
    if len(resources) == 1:
        return PermissionDenied(f"permission '{permission}' denied on resource '{resources[0]}' (or it may not exist)")
    named = ", ".join(f"'{r}'" for r in resources[:_MAX_NAMED])
    more = f" and {len(resources) - _MAX_NAMED} more" if len(resources) > _MAX_NAMED else ""
    return PermissionDenied(f"permission '{permission}' denied on resources {named}{more} (or they may not exist)")
