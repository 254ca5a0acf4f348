"""Permissions and the roles that bundle them, named after Container Analysis's IAM roles.

Every permission is checked on one project (see `authz`). The Grafeas ones carry the exact
strings of the reference server's API layer; the rest extend the same `noun.verb` pattern:

| permission | lets the caller |
|---|---|
| notes.get / notes.list | read a note / list a project's notes |
| notes.create / notes.update / notes.delete | write notes |
| notes.listOccurrences | list a note's occurrences (those in projects where the caller holds occurrences.list) |
| notes.attachOccurrence | point an occurrence at a note of this project (checked on the note's project) |
| occurrences.get / occurrences.list | read occurrences; also GetOccurrenceNote and the vulnerability summary |
| occurrences.create / occurrences.update / occurrences.delete | write occurrences |
| projects.get / projects.list | read a project / see it in ListProjects |
| projects.create / projects.delete | create or delete the project (checked on the project's own id) |
| policies.get / policies.list | read deploy-gate policies |
| policies.create / policies.update / policies.delete | write deploy-gate policies |
| policies.evaluate | ask the gate for a decision (which records one) |
| decisions.get / decisions.list | read recorded gate decisions |
| history.get | read the audit trail |
| admin.bindings | read and change the project's role bindings (bindings on `*` need it on `*`) |
| admin.tokens | mint and revoke API tokens (checked on `*`: tokens are server-wide identities) |
"""

from __future__ import annotations

NOTES_GET = "notes.get"
NOTES_LIST = "notes.list"
NOTES_CREATE = "notes.create"
NOTES_UPDATE = "notes.update"
NOTES_DELETE = "notes.delete"
NOTES_LIST_OCCURRENCES = "notes.listOccurrences"
NOTES_ATTACH_OCCURRENCE = "notes.attachOccurrence"
OCCURRENCES_GET = "occurrences.get"
OCCURRENCES_LIST = "occurrences.list"
OCCURRENCES_CREATE = "occurrences.create"
OCCURRENCES_UPDATE = "occurrences.update"
OCCURRENCES_DELETE = "occurrences.delete"
PROJECTS_GET = "projects.get"
PROJECTS_LIST = "projects.list"
PROJECTS_CREATE = "projects.create"
PROJECTS_DELETE = "projects.delete"
POLICIES_GET = "policies.get"
POLICIES_LIST = "policies.list"
POLICIES_CREATE = "policies.create"
POLICIES_UPDATE = "policies.update"
POLICIES_DELETE = "policies.delete"
POLICIES_EVALUATE = "policies.evaluate"
DECISIONS_GET = "decisions.get"
DECISIONS_LIST = "decisions.list"
HISTORY_GET = "history.get"
ADMIN_BINDINGS = "admin.bindings"
ADMIN_TOKENS = "admin.tokens"

ALL_PERMISSIONS: frozenset[str] = frozenset(
    {
        NOTES_GET, NOTES_LIST, NOTES_CREATE, NOTES_UPDATE, NOTES_DELETE,
        NOTES_LIST_OCCURRENCES, NOTES_ATTACH_OCCURRENCE,
        OCCURRENCES_GET, OCCURRENCES_LIST, OCCURRENCES_CREATE, OCCURRENCES_UPDATE, OCCURRENCES_DELETE,
        PROJECTS_GET, PROJECTS_LIST, PROJECTS_CREATE, PROJECTS_DELETE,
        POLICIES_GET, POLICIES_LIST, POLICIES_CREATE, POLICIES_UPDATE, POLICIES_DELETE, POLICIES_EVALUATE,
        DECISIONS_GET, DECISIONS_LIST,
        HISTORY_GET,
        ADMIN_BINDINGS, ADMIN_TOKENS,
    }
)  # fmt: skip

_PROJECT_READ = {PROJECTS_GET, PROJECTS_LIST}
_NOTES_READ = {NOTES_GET, NOTES_LIST}
_NOTES_WRITE = {NOTES_CREATE, NOTES_UPDATE, NOTES_DELETE, NOTES_ATTACH_OCCURRENCE}
_OCCURRENCES_READ = {OCCURRENCES_GET, OCCURRENCES_LIST}
_OCCURRENCES_WRITE = {OCCURRENCES_CREATE, OCCURRENCES_UPDATE, OCCURRENCES_DELETE}
_POLICIES_READ = {POLICIES_GET, POLICIES_LIST}
_POLICIES_WRITE = {POLICIES_CREATE, POLICIES_UPDATE, POLICIES_DELETE}
_DECISIONS_READ = {DECISIONS_GET, DECISIONS_LIST}

NOTES_VIEWER = "notesViewer"
NOTES_EDITOR = "notesEditor"
NOTES_ATTACHER = "notesAttacher"
NOTES_OCCURRENCES_VIEWER = "notesOccurrencesViewer"
OCCURRENCES_VIEWER = "occurrencesViewer"
OCCURRENCES_EDITOR = "occurrencesEditor"
POLICY_ADMIN = "policyAdmin"
GATE_EVALUATOR = "gateEvaluator"
AUDITOR = "auditor"
PROJECT_ADMIN = "projectAdmin"

# Role -> permissions. The first six are Container Analysis's roles of the same purpose
# (roles/containeranalysis.notes.viewer, .notes.editor, .notes.attacher, .notes.occurrences.viewer,
# .occurrences.viewer, .occurrences.editor), with the same permissions.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    NOTES_VIEWER: frozenset(_NOTES_READ | _PROJECT_READ),
    NOTES_EDITOR: frozenset(_NOTES_READ | _NOTES_WRITE | _PROJECT_READ),
    # Only what a customer needs in a provider's project to link its occurrences to the provider's notes.
    NOTES_ATTACHER: frozenset({NOTES_ATTACH_OCCURRENCE, NOTES_GET}),
    # What a provider needs to list its notes' occurrences; it sees those of the customers' projects
    # that grant it occurrences.list (Grafeas.list_note_occurrences), stricter than Container Analysis.
    NOTES_OCCURRENCES_VIEWER: frozenset({NOTES_GET, NOTES_LIST_OCCURRENCES}),
    OCCURRENCES_VIEWER: frozenset(_OCCURRENCES_READ | _PROJECT_READ),
    # Writing an occurrence also needs notes.attachOccurrence on its note's project (see authz).
    OCCURRENCES_EDITOR: frozenset(_OCCURRENCES_READ | _OCCURRENCES_WRITE | _PROJECT_READ),
    POLICY_ADMIN: frozenset(_POLICIES_READ | _POLICIES_WRITE | {POLICIES_EVALUATE} | _DECISIONS_READ | _PROJECT_READ),
    # A CI or admission-controller identity: asks for decisions and reads back its own.
    GATE_EVALUATOR: frozenset({POLICIES_GET, POLICIES_EVALUATE, DECISIONS_GET, PROJECTS_GET}),
    # Reads everything, changes nothing; evaluating a policy records a decision, so it is left out.
    AUDITOR: frozenset(
        _NOTES_READ
        | {NOTES_LIST_OCCURRENCES}
        | _OCCURRENCES_READ
        | _POLICIES_READ
        | _DECISIONS_READ
        | {HISTORY_GET}
        | _PROJECT_READ
    ),
    PROJECT_ADMIN: ALL_PERMISSIONS,
}

ROLES: frozenset[str] = frozenset(ROLE_PERMISSIONS)


def check_permission_name(permission: str) -> str:
    """Return `permission` if it is one of ours; a typo in a check must fail loudly, not deny quietly."""
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return permission
