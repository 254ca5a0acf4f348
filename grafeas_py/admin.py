"""Role bindings and API tokens: the operations behind the admin API and the `grafeas-py auth` commands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .auth import roles
from .auth.access import Access
from .auth.authz import ALL_PROJECTS, Binding, check_new_member
from .auth.tokens import TokenRecord, generate_token
from .names import project_name
from .storage import Storage
from .storage.base import Page, PageRequest
from .wire.timestamps import from_datetime


class Admin:
    """Who may do what, managed by callers that `access` allows (the command line is allowed everything)."""

    def __init__(
        self, storage: Storage, access: Access | None = None, bindings_changed: Callable[[], None] = lambda: None
    ) -> None:
        self.storage = storage
        self.access = access or Access.unrestricted()
        self._bindings_changed = bindings_changed  # lets this process apply its own changes at once

    # ---- role bindings ---------------------------------------------------------------------

    def bindings(self, project: str | None = None) -> list[Binding]:
        """The bindings on one project (admin.bindings there), or all of them (admin.bindings on `*`)."""
        self.access.require(roles.ADMIN_BINDINGS, project or ALL_PROJECTS)
        return self.storage.list_bindings(project)

    def bind(self, binding: Binding) -> Binding:
        """Grant a role; a binding on `*` needs admin.bindings on `*`."""
        self.access.require(roles.ADMIN_BINDINGS, binding.project, project_name(binding.project))
        check_new_member(binding.member)
        self.storage.create_binding(binding, from_datetime(dt.datetime.now(dt.UTC)))
        self._bindings_changed()
        return binding

    def unbind(self, binding: Binding) -> None:
        self.access.require(roles.ADMIN_BINDINGS, binding.project, project_name(binding.project))
        self.storage.delete_binding(binding)
        self._bindings_changed()

    # ---- the audit trail --------------------------------------------------------------------

    def audit_entries(self, page: PageRequest, filter_=None) -> Page:
        """The sealed audit trail; it spans every project and the server-wide tokens, so history.get on `*`."""
        self.access.require(roles.HISTORY_GET, ALL_PROJECTS)
        return self.storage.list_audit_entries(page, filter_)

    # ---- API tokens (server-wide identities, so admin.tokens is checked on `*`) ------------

    def create_token(self, name: str, expires: dt.datetime | None = None) -> tuple[str, TokenRecord]:
        """A new token for `token:<name>`: the text to hand over once, and what is stored."""
        self.access.require(roles.ADMIN_TOKENS, ALL_PROJECTS)
        token, record = generate_token(name, expires=expires)
        self.storage.create_token(record)
        return token, record

    def tokens(self) -> list[TokenRecord]:
        self.access.require(roles.ADMIN_TOKENS, ALL_PROJECTS)
        return self.storage.list_tokens()

    def revoke_tokens(self, name: str, token_id: str | None = None) -> list[TokenRecord]:
        """Revoke every unrevoked token of `name`, or only `token_id`; they fail from their next request."""
        self.access.require(roles.ADMIN_TOKENS, ALL_PROJECTS)
        return self.storage.revoke_tokens(name, token_id, dt.datetime.now(dt.UTC))
