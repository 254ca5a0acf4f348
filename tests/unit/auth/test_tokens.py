"""Tests for API tokens: generation, verification, revocation and expiry."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from grafeas_py.auth.tokens import (
    TokenAuthenticator,
    TokenRecord,
    generate_token,
    looks_like_api_token,
    revoke,
    verify_token,
)
from grafeas_py.errors import InvalidArgument, Unauthenticated

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class Store(dict):
    """Token records by id, as storage would keep them."""

    def add(self, record: TokenRecord) -> None:
        self[record.token_id] = record


@pytest.fixture
def store() -> Store:
    return Store()


def test_generated_token_shape_and_record(store):
    token, record = generate_token("ci-builder", now=NOW)
    prefix, token_id, secret = token.split("_", 2)
    assert prefix == "gfp" and token_id == record.token_id and len(token_id) == 16 and len(secret) == 43
    assert record.name == "ci-builder" and record.principal_id == "token:ci-builder"
    assert record.created == NOW and record.expires is None and record.revoked is None
    assert record.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(record)  # the secret is never stored
    assert looks_like_api_token(token)


def test_tokens_are_unique():
    tokens = {generate_token("n", now=NOW)[0] for _ in range(200)}
    assert len(tokens) == 200


def test_verify_accepts_the_token(store):
    token, record = generate_token("ci", now=NOW)
    store.add(record)
    assert verify_token(token, store.get, NOW) == record


@pytest.mark.parametrize(
    "presented, message",
    [
        ("gfp_short", "malformed API token"),
        ("gfp_0123456789abcdef_" + "a" * 42, "malformed API token"),
        ("gfp_0123456789ABCDEF_" + "a" * 43, "malformed API token"),
        ("gfp_0123456789abcdef_" + "a" * 43, "API token gfp_0123456789abcdef is not valid"),  # unknown id
    ],
)
def test_verify_refuses_malformed_and_unknown(store, presented, message):
    with pytest.raises(Unauthenticated, match=message) as err:
        verify_token(presented, store.get, NOW)
    assert err.value.http_status == 401 and err.value.status == "UNAUTHENTICATED"


def test_verify_refuses_a_wrong_secret_like_an_unknown_token(store):
    token, record = generate_token("ci", now=NOW)
    store.add(record)
    other, _ = generate_token("ci", now=NOW)
    forged = token[: len("gfp_") + 17] + other.split("_", 2)[2]
    with pytest.raises(Unauthenticated, match=f"API token gfp_{record.token_id} is not valid"):
        verify_token(forged, store.get, NOW)


def test_revoked_token_is_refused(store):
    token, record = generate_token("ci", now=NOW)
    store.add(revoke(record, NOW + dt.timedelta(minutes=1)))
    with pytest.raises(Unauthenticated, match="was revoked"):
        verify_token(token, store.get, NOW + dt.timedelta(minutes=2))
    assert revoke(store[record.token_id], NOW + dt.timedelta(days=1)).revoked == NOW + dt.timedelta(minutes=1)


def test_revocation_is_not_revealed_without_the_secret(store):
    token, record = generate_token("ci", now=NOW)
    store.add(revoke(record, NOW))
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(Unauthenticated, match="is not valid"):
        verify_token(wrong, store.get, NOW)


def test_expiry(store):
    expires = NOW + dt.timedelta(days=30)
    token, record = generate_token("ci", now=NOW, expires=expires)
    store.add(record)
    assert verify_token(token, store.get, expires - dt.timedelta(seconds=1)) == record
    with pytest.raises(Unauthenticated, match="expired at 2026-03-31T12:00:00"):
        verify_token(token, store.get, expires)


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "a/b", "x" * 101])
def test_bad_token_names(name):
    with pytest.raises(InvalidArgument):
        generate_token(name, now=NOW)


def test_expiry_must_be_in_the_future():
    with pytest.raises(InvalidArgument):
        generate_token("ci", now=NOW, expires=NOW)


def test_authenticator(store):
    token, record = generate_token("deploy-bot", now=NOW)
    store.add(record)
    auth = TokenAuthenticator(store.get, clock=lambda: NOW)
    principal = auth.authenticate({"Authorization": f"Bearer {token}"}, {})
    assert (principal.id, principal.kind, principal.via) == ("token:deploy-bot", "token", "token")
    assert auth.authenticate({"authorization": f"bearer {token}"}, {}) == principal  # case-insensitive
    # Not ours: no header, another scheme, a JWT-shaped bearer.
    assert auth.authenticate({}, {}) is None
    assert auth.authenticate({"Authorization": "Basic dXNlcjpwYXNz"}, {}) is None
    assert auth.authenticate({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}, {}) is None
    with pytest.raises(Unauthenticated):
        auth.authenticate({"Authorization": "Bearer gfp_nope"}, {})
