"""Tests for the settings and the chain of authenticators tried in order."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from grafeas_py.auth.authn import AuthChain, NoAuthenticator, build_chain, open_access_warning
from grafeas_py.auth.mtls import MtlsAuthenticator
from grafeas_py.auth.oidc import ASYMMETRIC_ALGORITHMS, OidcAuthenticator
from grafeas_py.auth.principal import ANONYMOUS, Principal
from grafeas_py.auth.settings import AuthSettings
from grafeas_py.auth.tokens import TokenAuthenticator, generate_token
from grafeas_py.errors import Unauthenticated

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ISSUER = "https://gitlab.com"


def test_default_is_open():
    settings = AuthSettings.from_env({})
    assert settings.methods == ("none",) and settings.is_open and settings.audit_key is None
    chain = build_chain(settings)
    assert [type(a) for a in chain.authenticators] == [NoAuthenticator]
    assert chain.authenticate({"Authorization": "Bearer whatever"}, {}) == ANONYMOUS


def test_open_access_warning_is_loud():
    text = open_access_warning()
    assert "AUTHENTICATION IS OFF (GRAFEAS_AUTH=none)" in text and "FULL rights" in text and "GRAFEAS_AUTH" in text


def test_all_variables(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": []}))
    settings = AuthSettings.from_env(
        {
            "GRAFEAS_AUTH": " MTLS, token ,oidc",
            "GRAFEAS_OIDC_ISSUER": ISSUER,
            "GRAFEAS_OIDC_AUDIENCE": "grafeas, https://grafeas.example.com",
            "GRAFEAS_OIDC_JWKS_FILE": str(jwks),
            "GRAFEAS_OIDC_JWKS_TTL": "120",
            "GRAFEAS_OIDC_JWKS_TIMEOUT": "2.5",
            "GRAFEAS_OIDC_ALGORITHMS": "RS256,ES256",
            "GRAFEAS_OIDC_ID_CLAIM": "project_path",
            "GRAFEAS_OIDC_ID_PREFIX": "gitlab:",
            "GRAFEAS_OIDC_GROUPS_CLAIM": "namespace_path",
            "GRAFEAS_OIDC_GROUP_PREFIX": "gitlab:",
            "GRAFEAS_OIDC_LEEWAY": "30",
            "GRAFEAS_OIDC_KIND": "user",
            "GRAFEAS_MTLS_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16",
            "GRAFEAS_MTLS_HEADER": "X-Client-Cert",
            "GRAFEAS_AUDIT_KEY": "k" * 32,
        }
    )
    assert settings.methods == ("mtls", "token", "oidc") and not settings.is_open
    oidc = settings.oidc
    assert oidc.issuer == ISSUER and oidc.audiences == ("grafeas", "https://grafeas.example.com")
    assert (oidc.jwks_file, oidc.jwks_url, oidc.jwks_ttl, oidc.jwks_timeout) == (str(jwks), None, 120, 2.5)
    assert oidc.algorithms == ("RS256", "ES256") and oidc.leeway == 30 and oidc.kind == "user"
    assert (oidc.id_claim, oidc.principal_prefix, oidc.groups_claim, oidc.groups_prefix) == (
        "project_path",
        "gitlab:",
        "namespace_path",
        "gitlab:",
    )
    assert settings.mtls.trusted_proxies == ("10.0.0.5", "10.1.0.0/16") and settings.mtls.header == "X-Client-Cert"
    assert settings.audit_key == b"k" * 32
    chain = build_chain(settings, token_lookup=lambda token_id: None)
    assert [type(a) for a in chain.authenticators] == [MtlsAuthenticator, TokenAuthenticator, OidcAuthenticator]


def test_oidc_defaults():
    settings = AuthSettings.from_env(
        {
            "GRAFEAS_AUTH": "oidc",
            "GRAFEAS_OIDC_ISSUER": ISSUER,
            "GRAFEAS_OIDC_AUDIENCE": "grafeas",
            "GRAFEAS_OIDC_JWKS_URL": "https://gitlab.com/oauth/discovery/keys",
        }
    )
    oidc = settings.oidc
    assert oidc.algorithms == ASYMMETRIC_ALGORITHMS and oidc.id_claim == "sub" and oidc.groups_claim is None
    assert oidc.principal_prefix == "https://gitlab.com#" and oidc.leeway == 60 and oidc.jwks_ttl == 600
    assert oidc.kind == "service"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GRAFEAS_AUTH": "token,none"}, "cannot be combined"),
        ({"GRAFEAS_AUTH": "password"}, "takes 'none' or a list"),
        ({"GRAFEAS_AUTH": "token,token"}, "twice"),
        ({"GRAFEAS_AUTH": "oidc"}, "issuer"),
        ({"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_ISSUER": ISSUER, "GRAFEAS_OIDC_JWKS_FILE": "/j"}, "audience"),
        ({"GRAFEAS_AUTH": "mtls", "GRAFEAS_MTLS_TRUSTED_PROXIES": "proxy"}, "not an IP address"),
        ({"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_LEEWAY": "a minute"}, "GRAFEAS_OIDC_LEEWAY must be a number"),
        ({"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_LEEWAY": "inf"}, "GRAFEAS_OIDC_LEEWAY must be a finite number"),
        ({"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_LEEWAY": "1e300"}, "GRAFEAS_OIDC_LEEWAY must be from 0 to 31536000"),
        (
            {"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_JWKS_TIMEOUT": "99999999999"},
            "GRAFEAS_OIDC_JWKS_TIMEOUT must be from 0 to 31536000 seconds, got '99999999999'",
        ),
        ({"GRAFEAS_AUTH": "oidc", "GRAFEAS_OIDC_JWKS_TTL": "-1"}, "GRAFEAS_OIDC_JWKS_TTL must be from 0 to"),
    ],
)
def test_bad_environment(environ, message):
    with pytest.raises(ValueError, match=message):
        AuthSettings.from_env(environ)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (":::", "not a readable JWKS: Expecting value"),
        ('{"keys": {}}', "not a readable JWKS: a JWKS is a JSON object with a 'keys' list"),
    ],
)
def test_the_jwks_file_is_checked_when_asked_not_when_read(tmp_path, content, message):
    """Checked as the server starts (check_files); as each worker boots, a file removed since stopped the
    whole server at the next worker replaced."""
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    environ = {
        "GRAFEAS_AUTH": "oidc",
        "GRAFEAS_OIDC_ISSUER": ISSUER,
        "GRAFEAS_OIDC_AUDIENCE": "grafeas",
        "GRAFEAS_OIDC_JWKS_FILE": str(path),
    }
    settings = AuthSettings.from_env(environ)
    with pytest.raises(ValueError) as raised:
        settings.oidc.check_jwks_file()
    assert str(raised.value).startswith(f"GRAFEAS_OIDC_JWKS_FILE={path}: {message}"), raised.value
    path.write_text('{"keys": []}')
    settings.oidc.check_jwks_file()


def test_token_method_needs_a_lookup():
    with pytest.raises(ValueError, match="token_lookup"):
        build_chain(AuthSettings(methods=("token",)))


class Fixed:
    """An authenticator that answers the same thing every time, and counts its calls."""

    def __init__(self, name, answer):
        self.name, self.answer, self.calls = name, answer, 0

    def authenticate(self, headers, environ):
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_first_method_that_recognises_the_caller_wins():
    alice = Principal("user:alice@example.com", "user")
    skip, found, never = Fixed("mtls", None), Fixed("token", alice), Fixed("oidc", None)
    assert AuthChain((skip, found, never)).authenticate({}, {}) == alice
    assert (skip.calls, found.calls, never.calls) == (1, 1, 0)


def test_a_bad_credential_stops_the_chain():
    bad, after = Fixed("token", Unauthenticated("API token gfp_x was revoked")), Fixed("mtls", ANONYMOUS)
    with pytest.raises(Unauthenticated, match="revoked"):
        AuthChain((bad, after)).authenticate({}, {})
    assert after.calls == 0


def test_nobody_recognised():
    chain = AuthChain((Fixed("token", None), Fixed("mtls", None)))
    with pytest.raises(Unauthenticated) as err:
        chain.authenticate({}, {})
    assert err.value.message == (
        "authentication required: send an API token (Authorization: Bearer gfp_...) or a client certificate"
    )
    with pytest.raises(Unauthenticated, match="the Authorization header holds no credential accepted here"):
        chain.authenticate({"Authorization": "Bearer eyJ.eyJ.sig"}, {})


def test_token_chain_end_to_end():
    token, record = generate_token("ci", now=NOW)
    chain = build_chain(AuthSettings(methods=("token",)), token_lookup={record.token_id: record}.get, clock=lambda: NOW)
    assert chain.authenticate({"Authorization": f"Bearer {token}"}, {}).id == "token:ci"
    with pytest.raises(Unauthenticated, match="authentication required"):
        chain.authenticate({}, {})
