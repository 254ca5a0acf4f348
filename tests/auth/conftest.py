"""A server that requires credentials (API tokens, and OIDC JWTs checked against a JWKS file), on its
own database, with an administrator made the way an operator makes the first one."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from grafeas_py import create_app
from grafeas_py.admin import Admin
from grafeas_py.auth.authz import Binding
from grafeas_py.auth.context import acting_as
from grafeas_py.auth.oidc import OidcSettings
from grafeas_py.auth.principal import Principal
from grafeas_py.auth.settings import AuthSettings
from grafeas_py.config import Settings
from tests.conftest import Http, fresh_database_url, serve

ISSUER = "https://ci.example.com"
AUDIENCE = "grafeas-test"
KID = "key-1"


@pytest.fixture(scope="session")
def oidc_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jwks_path(tmp_path_factory, oidc_key):
    jwk = RSAAlgorithm.to_jwk(oidc_key.public_key(), as_dict=True) | {"kid": KID, "use": "sig", "alg": "RS256"}
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


def secure_settings(database_url: str, jwks_path, **overrides) -> Settings:
    oidc = OidcSettings(
        issuer=ISSUER,
        audiences=(AUDIENCE,),
        jwks_file=str(jwks_path),
        id_prefix="ci:",
        groups_claim="owners",
        group_prefix="ci:",
    )
    return Settings(database_url=database_url, auth=AuthSettings(methods=("token", "oidc"), oidc=oidc), **overrides)


@dataclass
class Secure:
    """The credential-checking server, and ways to make callers for it."""

    base: str
    app: object
    admin_token: str
    oidc_key: object
    database_url: str

    def client(self, token: str | None = None) -> Http:
        """A session that presents `token` (none: no credential at all)."""
        session = Http(self.base)
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    @property
    def admin(self) -> Http:
        return self.client(self.admin_token)

    def token(self, name: str | None = None) -> str:
        """A new API token, minted through the admin API."""
        name = name or f"t-{uuid.uuid4().hex[:10]}"
        r = self.admin.post("/v1/admin/tokens", json={"name": name})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def bind(self, project: str, role: str, member: str) -> None:
        r = self.admin.post("/v1/admin/bindings", json={"project": project, "role": role, "member": member})
        assert r.status_code == 200, r.text

    def jwt(self, sub: str, owners: list[str] | None = None, **claims) -> str:
        """An OIDC token signed with the key the JWKS file publishes."""
        return signed_jwt(self.oidc_key, sub, owners, **claims)


def signed_jwt(key, sub: str, owners: list[str] | None = None, **claims) -> str:
    """An OIDC token as a CI system signs it: RS256, our issuer and audience, valid for five minutes."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now - 5, "exp": now + 300}
    if owners is not None:
        body["owners"] = owners
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="session")
def secure(tmp_path_factory, worker_id, jwks_path, oidc_key):
    url = fresh_database_url(tmp_path_factory.mktemp("secure"), f"secure_{worker_id}")
    app = create_app(secure_settings(url, jwks_path))
    # The first administrator, as the README has the operator make it: straight on the database.
    with acting_as(Principal("cli:operator", "user", via="cli")):
        admin = Admin(app.extensions["grafeas"].storage)
        admin_token, _ = admin.create_token("admin")
        admin.bind(Binding("*", "projectAdmin", "token:admin"))
    with serve(app) as base:
        yield Secure(base, app, admin_token, oidc_key, url)
    app.extensions["grafeas"].storage.dispose()


@pytest.fixture
def tenant():
    """A fresh project id for the tenant side of a test."""
    return f"t-{uuid.uuid4().hex[:12]}"
