"""Who the current request acts as: set by the HTTP layer, read by the service's checks and by storage's records.

A context variable rather than a parameter, so that every write path records its author (history,
audit trail) without threading a principal through each call. Nothing set means ANONYMOUS: with
GRAFEAS_AUTH=none that is every caller, and otherwise a principal without bindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from .principal import ANONYMOUS, Principal

_current: ContextVar[Principal] = ContextVar("grafeas_principal", default=ANONYMOUS)


def current_principal() -> Principal:
    """The principal the running request (or command) acts as."""
    return _current.get()


def enter(principal: Principal) -> Token:
    """Act as `principal` until `leave(token)`; a server thread serves many requests, so always leave."""
    return _current.set(principal)


def leave(token: Token) -> None:
    _current.reset(token)


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Act as `principal` within the block (commands, tests)."""
    token = enter(principal)
    try:
        yield principal
    finally:
        leave(token)
