"""Tests for roles and authorization: the role x permission matrix, bindings, and Grafeas's attach rule."""

from __future__ import annotations

import time

import pytest

from grafeas_py.auth.authz import ALL_PROJECTS, OPEN_BINDINGS, Authorizer, Binding
from grafeas_py.auth.principal import ANONYMOUS, Principal, group
from grafeas_py.auth.roles import ALL_PERMISSIONS, ROLE_PERMISSIONS
from grafeas_py.errors import InvalidArgument, PermissionDenied
from grafeas_py.names import NoteRef

# Written out in full, so that a change to a role shows up here as a deliberate edit.
EXPECTED = {
    "notesViewer": "notes.get notes.list projects.get projects.list",
    "notesEditor": "notes.get notes.list notes.create notes.update notes.delete notes.attachOccurrence "
    "projects.get projects.list",
    "notesAttacher": "notes.attachOccurrence notes.get",
    "notesOccurrencesViewer": "notes.get notes.listOccurrences",
    "occurrencesViewer": "occurrences.get occurrences.list projects.get projects.list",
    "occurrencesEditor": "occurrences.get occurrences.list occurrences.create occurrences.update occurrences.delete "
    "projects.get projects.list",
    "policyAdmin": "policies.get policies.list policies.create policies.update policies.delete policies.evaluate "
    "decisions.get decisions.list projects.get projects.list",
    "gateEvaluator": "policies.get policies.evaluate decisions.get projects.get",
    "auditor": "notes.get notes.list notes.listOccurrences occurrences.get occurrences.list policies.get "
    "policies.list decisions.get decisions.list history.get projects.get projects.list",
    "projectAdmin": " ".join(sorted(ALL_PERMISSIONS)),
}

ALICE = Principal("user:alice@example.com", "user")
CI = Principal("spiffe://example.org/ns/ci/sa/builder", "service", frozenset({"group:ci"}), via="mtls")


def test_every_role_is_in_the_expected_table():
    assert set(ROLE_PERMISSIONS) == set(EXPECTED)
    assert len(ALL_PERMISSIONS) == 27


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_grants_exactly_its_permissions_on_its_project_only(role):
    authz = Authorizer([Binding("p", role, ALICE.id)])
    granted = {perm for perm in ALL_PERMISSIONS if authz.allows(ALICE, perm, "p")}
    assert granted == set(EXPECTED[role].split())
    assert not any(authz.allows(ALICE, perm, "q") for perm in ALL_PERMISSIONS)
    assert not any(authz.allows(ALICE, perm, ALL_PROJECTS) for perm in ALL_PERMISSIONS)


def test_denial_names_permission_and_resource_and_does_not_admit_existence():
    authz = Authorizer([Binding("p", "notesViewer", ALICE.id), Binding("secret", "auditor", "user:bob")])
    with pytest.raises(PermissionDenied) as err:
        authz.check(ALICE, "notes.create", "p")
    assert err.value.http_status == 403 and err.value.status == "PERMISSION_DENIED"
    assert err.value.message == "permission 'notes.create' denied on resource 'projects/p' (or it may not exist)"
    with pytest.raises(PermissionDenied) as err:
        authz.check(ALICE, "notes.get", "secret", resource="projects/secret/notes/n1")
    assert "'projects/secret/notes/n1' (or it may not exist)" in err.value.message
    assert "bob" not in err.value.message


def test_groups_and_star_bindings():
    authz = Authorizer(
        [Binding("p", "occurrencesEditor", group("ci")), Binding(ALL_PROJECTS, "occurrencesViewer", "group:readers")]
    )
    authz.check(CI, "occurrences.create", "p")
    assert not authz.allows(CI, "occurrences.create", "q")
    reader = Principal("token:dashboard", "token", frozenset({"group:readers"}))
    for project in ("p", "q", "not-yet-created"):
        authz.check(reader, "occurrences.list", project)
    assert not authz.allows(reader, "occurrences.create", "p")


def test_star_grants_add_to_project_grants():
    authz = Authorizer([Binding(ALL_PROJECTS, "notesViewer", ALICE.id), Binding("p", "occurrencesViewer", ALICE.id)])
    assert authz.permissions(ALICE, "p") == ROLE_PERMISSIONS["notesViewer"] | ROLE_PERMISSIONS["occurrencesViewer"]
    assert authz.permissions(ALICE, "q") == ROLE_PERMISSIONS["notesViewer"]


def test_a_check_on_star_needs_a_grant_on_every_project():
    authz = Authorizer([Binding("p", "projectAdmin", ALICE.id), Binding("*", "projectAdmin", "token:root")])
    with pytest.raises(PermissionDenied, match=r"'admin.tokens' denied on resource 'projects/\*'"):
        authz.check(ALICE, "admin.tokens", ALL_PROJECTS)
    authz.check(Principal("token:root", "token"), "admin.tokens", ALL_PROJECTS)


def test_open_bindings_let_anonymous_do_everything():
    authz = Authorizer(OPEN_BINDINGS)
    for perm in ALL_PERMISSIONS:
        authz.check(ANONYMOUS, perm, "any-project")
        authz.check(ANONYMOUS, perm, ALL_PROJECTS)
    assert "whatever" in authz.list_visible_projects(ANONYMOUS)
    assert not authz.allows(ALICE, "notes.get", "any-project")


def test_visible_projects():
    authz = Authorizer(
        [
            Binding("a", "occurrencesViewer", ALICE.id),
            Binding("b", "notesAttacher", ALICE.id),  # no projects.list: the provider project stays hidden
            Binding("c", "auditor", "group:audit"),
        ]
    )
    scope = authz.list_visible_projects(ALICE)
    assert not scope.everything and scope.projects == {"a"}
    assert "a" in scope and "b" not in scope and "c" not in scope
    auditor = Principal("user:eve@example.com", "user", frozenset({"group:audit"}))
    assert authz.list_visible_projects(auditor).projects == {"c"}
    admin = Principal("token:admin", "token")
    everything = Authorizer([Binding("*", "auditor", admin.id)]).list_visible_projects(admin)
    assert everything.everything and "anything" in everything


# ---- the cross-project attach rule --------------------------------------------------------------

VULN_NOTE = NoteRef("vulnz", "CVE-2024-0001")
OWN_NOTE = NoteRef("cust", "build-note")


def customer(*extra: Binding) -> Authorizer:
    """A customer with Occurrences Editor in its project and Notes Attacher in the provider's."""
    return Authorizer(
        [Binding("cust", "occurrencesEditor", CI.id), Binding("vulnz", "notesAttacher", CI.id), *extra],
    )


def test_attach_rule_allows_occurrence_in_own_project_on_provider_note():
    for perm in ("occurrences.create", "occurrences.update", "occurrences.delete"):
        customer().check_occurrence_write(CI, perm, "cust", [VULN_NOTE])


def test_attach_rule_refuses_without_attach_on_the_note_project():
    authz = Authorizer([Binding("cust", "occurrencesEditor", CI.id)])
    with pytest.raises(PermissionDenied) as err:
        authz.check_occurrence_write(CI, "occurrences.create", "cust", [VULN_NOTE])
    assert err.value.message == (
        "permission 'notes.attachOccurrence' denied on resource 'projects/vulnz/notes/CVE-2024-0001' "
        "(or it may not exist)"
    )
    # Occurrences Editor alone does not attach even to the project's own notes, as in Container Analysis.
    with pytest.raises(PermissionDenied, match="notes.attachOccurrence"):
        authz.check_occurrence_write(CI, "occurrences.create", "cust", [OWN_NOTE])


def test_attach_rule_refuses_without_the_occurrence_permission():
    authz = Authorizer([Binding("vulnz", "notesAttacher", CI.id)])
    with pytest.raises(PermissionDenied, match="'occurrences.create' denied on resource 'projects/cust'"):
        authz.check_occurrence_write(CI, "occurrences.create", "cust", [VULN_NOTE])
    with pytest.raises(PermissionDenied, match="'occurrences.delete' denied on resource 'projects/other'"):
        customer().check_occurrence_write(CI, "occurrences.delete", "other", [VULN_NOTE])


def test_attach_rule_for_an_update_that_changes_note_checks_both_notes():
    new_note = NoteRef("other-provider", "n")
    with pytest.raises(PermissionDenied, match="projects/other-provider/notes/n"):
        customer().check_occurrence_write(CI, "occurrences.update", "cust", [VULN_NOTE, new_note])
    customer(Binding("other-provider", "notesEditor", CI.id)).check_occurrence_write(
        CI, "occurrences.update", "cust", [VULN_NOTE, new_note]
    )


def test_attach_rule_for_a_batch_names_every_refused_note_once():
    notes = [VULN_NOTE, NoteRef("x", "1"), NoteRef("y", "2"), NoteRef("x", "1")]
    with pytest.raises(PermissionDenied) as err:
        customer().check_occurrence_write(CI, "occurrences.create", "cust", notes)
    assert err.value.message == (
        "permission 'notes.attachOccurrence' denied on resources 'projects/x/notes/1', 'projects/y/notes/2' "
        "(or they may not exist)"
    )
    many = [NoteRef("x", str(i)) for i in range(25)]
    with pytest.raises(PermissionDenied, match="and 15 more"):
        customer().check_occurrence_write(CI, "occurrences.create", "cust", many)


def test_attach_rule_only_takes_occurrence_writes():
    with pytest.raises(ValueError):
        customer().check_occurrence_write(CI, "occurrences.get", "cust", [VULN_NOTE])


# ---- mistakes fail loudly -----------------------------------------------------------------------


def test_unknown_permission_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown permission"):
        Authorizer([]).check(ALICE, "notes.read", "p")


@pytest.mark.parametrize(
    "project, role, member",
    [("p", "owner", "user:a"), ("", "auditor", "user:a"), ("a/b", "auditor", "user:a"), ("p", "auditor", ""),
     ("p", "auditor", "group:"), ("p", "auditor", " user:a")],
)  # fmt: skip
def test_bad_bindings_are_invalid_arguments(project, role, member):
    with pytest.raises(InvalidArgument):
        Binding(project, role, member)


def test_a_check_costs_microseconds():
    bindings = [Binding(f"p{i}", "occurrencesEditor", f"group:g{i % 50}") for i in range(2000)]
    bindings += [Binding("p7", "notesAttacher", CI.id)]
    authz = Authorizer(bindings)
    principal = Principal(CI.id, "service", frozenset(f"group:g{i}" for i in range(10)))
    authz.check(principal, "occurrences.create", "p7")  # the first check computes the principal's grants
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        authz.check(principal, "occurrences.create", "p7")
    per_check = (time.perf_counter() - started) / n
    assert per_check < 50e-6, f"{per_check * 1e6:.1f} µs per check"


def test_principal_rules():
    assert Principal("token:ci", "token", frozenset({"group:ops"})).members == {"token:ci", "group:ops"}
    assert group("ops") == group("group:ops") == "group:ops"
    for bad in (
        lambda: Principal("", "user"),
        lambda: Principal("group:ops", "user"),  # a caller cannot pass for a group
        lambda: Principal("user:a", "robot"),
        lambda: Principal("user:a", "user", frozenset({"ops"})),
        lambda: Principal("user:a", "user", frozenset({"group:"})),
    ):
        with pytest.raises(ValueError):
            bad()
