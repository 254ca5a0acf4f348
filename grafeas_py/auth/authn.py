"""Authentication: the configured methods, tried in order, turn a request into a Principal.

How the pieces fit, for whoever wires them into the app:

    settings = AuthSettings.from_env()                     # once, at start-up
    if settings.is_open:
        log.warning(open_access_warning())
    chain = build_chain(settings, token_lookup=storage.get_token)   # TokenRecord | None by token id
    authorizer = Authorizer(OPEN_BINDINGS if settings.is_open else storage.list_bindings())

    principal = chain.authenticate(request.headers, request.environ)    # per request; may raise
    authorizer.check(principal, "notes.get", project_id)                 # before reading anything

Every authenticator has the same method, `authenticate(headers, environ) -> Principal | None`:
None means "no credential of mine here", so the next method is tried; Unauthenticated means "a
credential of mine, and it is bad" (expired, revoked, badly signed, for another audience...), and
stops the chain, so a bad credential never falls through to a weaker method.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import Unauthenticated
from .headers import get_header
from .mtls import MtlsAuthenticator
from .oidc import OidcAuthenticator
from .principal import ANONYMOUS, Principal
from .settings import AuthSettings
from .tokens import TokenAuthenticator, TokenRecord


class Authenticator(Protocol):
    """One way of proving who the caller is."""

    name: str

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal | None: ...


class NoAuthenticator:
    """GRAFEAS_AUTH=none: every caller is the anonymous principal."""

    name = "none"

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal | None:
        return ANONYMOUS


_WHAT_TO_SEND = {
    "token": "an API token (Authorization: Bearer gfp_...)",
    "oidc": "an OIDC token (Authorization: Bearer <JWT>)",
    "mtls": "a client certificate",
}


# The audit trail indexes who acted, and PostgreSQL's btree holds at most 2704 bytes a row: a 5 KB OIDC
# `sub` passed every check and then stopped sealing for every caller. No real subject comes near this.
MAX_PRINCIPAL_BYTES = 1024


@dataclass(frozen=True)
class AuthChain:
    """The configured authenticators; the first to recognise a credential decides."""

    authenticators: tuple[Authenticator, ...]

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal:
        """The caller's principal; Unauthenticated if no method accepts the request."""
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(headers, environ)
            if principal is not None:
                size = len(principal.id.encode("utf-8", "surrogatepass"))
                if size > MAX_PRINCIPAL_BYTES:
                    raise Unauthenticated(
                        f"the credential names a principal of {size} bytes; at most {MAX_PRINCIPAL_BYTES} can be "
                        "recorded in the audit trail"
                    )
                return principal
        accepted = " or ".join(_WHAT_TO_SEND.get(a.name, a.name) for a in self.authenticators)
        if get_header(headers, "Authorization"):
            raise Unauthenticated(f"the Authorization header holds no credential accepted here; send {accepted}")
        raise Unauthenticated(f"authentication required: send {accepted}")


def build_chain(
    settings: AuthSettings,
    token_lookup: Callable[[str], TokenRecord | None] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> AuthChain:
    """The authenticators `settings` ask for, in their order. `token_lookup` finds a token's record by id."""
    authenticators: list[Authenticator] = []
    for method in settings.methods:
        if method == "none":
            authenticators.append(NoAuthenticator())
        elif method == "token":
            if token_lookup is None:
                raise ValueError("GRAFEAS_AUTH includes token, so build_chain needs a token_lookup")
            authenticators.append(TokenAuthenticator(token_lookup, clock))
        elif method == "oidc":
            assert settings.oidc is not None  # AuthSettings guarantees it
            authenticators.append(OidcAuthenticator(settings.oidc))
        elif method == "mtls":
            authenticators.append(MtlsAuthenticator(settings.mtls))
    return AuthChain(tuple(authenticators))


# Set by gunicorn's master once it has logged `open_access_warning` (server.when_ready), for its workers.
OPEN_ACCESS_ANNOUNCED = "GRAFEAS_OPEN_ACCESS_ANNOUNCED"


def open_access_warning() -> str:
    """The start-up warning to log, loudly, when GRAFEAS_AUTH=none."""
    bar = "!" * 100
    return (
        f"\n{bar}\n"
        "!!  AUTHENTICATION IS OFF (GRAFEAS_AUTH=none).\n"
        "!!  Every request, from anyone who can reach this server, acts as 'anonymous' with FULL rights on\n"
        "!!  EVERY project: it can read all metadata, write and delete notes, occurrences and policies, and\n"
        "!!  change role bindings. Keep it to a loopback address or a sandbox. To require credentials, set\n"
        "!!  GRAFEAS_AUTH to a list of token, oidc and mtls.\n"
        f"{bar}"
    )
