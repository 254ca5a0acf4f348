"""The checks the domain layer makes: the request's principal against the role bindings of the moment.

`LiveAuthorizer` keeps an `Authorizer` in step with the role_bindings table across processes and
instances: at most every `ttl` seconds one cheap query reads the table's version, and the bindings
are read again only when it changed. A change made anywhere therefore applies everywhere within
`ttl` seconds (plus one request); one made through this process applies at once (`invalidate`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable

from ..names import NoteRef
from .authz import OPEN_BINDINGS, Authorizer, Binding, ProjectScope
from .context import current_principal


class LiveAuthorizer:
    """The Authorizer for the current bindings, rebuilt when their version changes."""

    def __init__(
        self,
        version: Callable[[], Hashable],
        bindings: Callable[[], Iterable[Binding]],
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version_of, self._bindings, self.ttl, self.clock = version, bindings, ttl, clock
        self._lock = threading.Lock()
        self._authorizer: Authorizer | None = None
        self._version: Hashable = None
        self._checked = float("-inf")

    def current(self) -> Authorizer:
        authorizer = self._authorizer
        if authorizer is not None and self.clock() < self._checked + self.ttl:
            return authorizer
        with self._lock:  # one thread reloads; the others wait for its result rather than query too
            if self._authorizer is None or self.clock() >= self._checked + self.ttl:
                # The version is read before the bindings: a change between the two reads is then
                # seen again at the next check, never recorded as already loaded.
                version = self._version_of()
                if self._authorizer is None or version != self._version:
                    self._authorizer = Authorizer(self._bindings())
                    self._version = version
                self._checked = self.clock()
            return self._authorizer

    def invalidate(self) -> None:
        """Check the version on the next request: bindings changed in this process."""
        self._checked = float("-inf")


_OPEN = Authorizer(OPEN_BINDINGS)


class Access:
    """Answers for the service layer whether the current principal may act; raises PermissionDenied if not."""

    def __init__(self, authorizer: Callable[[], Authorizer] | None) -> None:
        self._authorizer = authorizer

    @classmethod
    def open(cls) -> Access:
        """GRAFEAS_AUTH=none: the anonymous caller may do everything."""
        return cls(lambda: _OPEN)

    @classmethod
    def unrestricted(cls) -> Access:
        """No checks at all: for trusted in-process callers (the command line, benchmarks)."""
        return cls(None)

    def require(self, permission: str, project: str, resource: str | None = None) -> None:
        if self._authorizer is not None:
            self._authorizer().check(current_principal(), permission, project, resource)

    def require_occurrence_write(self, permission: str, project: str, notes: Iterable[NoteRef]) -> None:
        """Grafeas's rule: `permission` on the project, and notes.attachOccurrence on each note's project."""
        if self._authorizer is not None:
            self._authorizer().check_occurrence_write(current_principal(), permission, project, notes)

    def scope(self, permission: str) -> ProjectScope:
        """The projects where the current principal holds `permission`."""
        if self._authorizer is None:
            return ProjectScope(everything=True, projects=frozenset())
        return self._authorizer().scope(current_principal(), permission)
