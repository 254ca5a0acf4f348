"""Authentication at the HTTP edge: every request except the probes and the docs gets a principal or a 401."""

from __future__ import annotations

from flask import Flask, g, request

from ..auth import context
from ..auth.authn import AuthChain

_OPEN_PATHS = ("/healthz", "/readyz")


def _needs_principal(path: str) -> bool:
    return path not in _OPEN_PATHS and path != "/docs" and not path.startswith("/docs/")


def install(app: Flask, chain: AuthChain) -> None:
    """Authenticate each request with `chain` before its view runs; Unauthenticated becomes the 401."""

    @app.before_request
    def authenticate():
        if _needs_principal(request.path):
            principal = chain.authenticate(request.headers, request.environ)
            g.principal_token = context.enter(principal)

    @app.teardown_request
    def forget(_exc):
        token = g.pop("principal_token", None)
        if token is not None:
            context.leave(token)  # a worker thread serves other requests next
