"""Tests for OIDC bearer tokens, with keys made here and a JWKS from a file and from a real HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from grafeas_py.auth.oidc import JwksCache, JwksUnavailable, OidcAuthenticator, OidcSettings, looks_like_jwt
from grafeas_py.errors import Unauthenticated

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "https://grafeas.example.com"
SUB = "repo:octo-org/app:ref:refs/heads/main"


@pytest.fixture(scope="module")
def keys():
    return {
        "rsa1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec1": ec.generate_private_key(ec.SECP256R1()),
        "ed1": ed25519.Ed25519PrivateKey.generate(),
    }


def jwk(kid: str, private_key, alg: str | None = None) -> dict:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        data = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(public, as_dict=True)
    data.update(kid=kid, use="sig")
    if alg:
        data["alg"] = alg
    return data


def jwks(keys, *kids, **algs) -> dict:
    return {"keys": [jwk(kid, keys[kid], algs.get(kid)) for kid in kids]}


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUB, "iat": now, "nbf": now - 5, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(keys, kid: str, alg: str, **overrides) -> str:
    return jwt.encode(claims(**overrides), keys[kid], algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict, body: dict, signature: bytes = b"") -> str:
    """A token PyJWT would refuse to make: alg none, or HS256 keyed with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    return f"{signing_input}.{b64(signature)}" if signature else f"{signing_input}."


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def jwks_file(tmp_path, keys):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(keys, "rsa1", "ec1", "ed1", rsa1="RS256")))
    return path


@pytest.fixture
def oidc(jwks_file):
    settings = OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_file=str(jwks_file), groups_claim="owners")
    return OidcAuthenticator(settings)


class JwksServer(http.server.ThreadingHTTPServer):
    document: bytes = b"{}"
    hits = 0
    status = 200


class JwksHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        server = self.server
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/jwks")
            self.end_headers()
            return
        server.hits += 1
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(server.document)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server(keys):
    server = JwksServer(("127.0.0.1", 0), JwksHandler)
    server.document = json.dumps(jwks(keys, "rsa1", "ec1")).encode()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url_of(server: JwksServer, path: str = "/jwks") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def served(server: JwksServer, clock=time.monotonic, **settings) -> OidcAuthenticator:
    s = OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_url=url_of(server), **settings)
    return OidcAuthenticator(s, JwksCache(url=s.jwks_url, ttl=s.jwks_ttl, timeout=2, clock=clock))


# ---- accepted ------------------------------------------------------------------------------------


def test_rs256_from_a_jwks_file(oidc, keys):
    principal = oidc.authenticate(bearer(sign(keys, "rsa1", "RS256", owners=["octo-org", "ops"])), {})
    assert principal.id == f"{ISSUER}#{SUB}"
    assert principal.kind == "service" and principal.via == "oidc"
    assert principal.groups == {f"group:{ISSUER}#octo-org", f"group:{ISSUER}#ops"}


def test_es256_and_eddsa_from_a_jwks_file(oidc, keys):
    assert oidc.authenticate(bearer(sign(keys, "ec1", "ES256", owners="octo-org")), {}).groups == {
        f"group:{ISSUER}#octo-org"
    }
    assert oidc.authenticate(bearer(sign(keys, "ed1", "EdDSA")), {}).id == f"{ISSUER}#{SUB}"


def test_rs256_and_es256_from_a_jwks_url_over_http(jwks_server, keys):
    auth = served(jwks_server, id_prefix="github:", id_claim="repository", groups_claim="repository_owner")
    token = sign(keys, "ec1", "ES256", repository="octo-org/app", repository_owner="octo-org")
    principal = auth.authenticate(bearer(token), {})
    assert principal.id == "github:octo-org/app" and principal.groups == {"group:" + ISSUER + "#octo-org"}
    assert auth.authenticate(bearer(sign(keys, "rsa1", "RS256", repository="x/y")), {}).id == "github:x/y"
    assert jwks_server.hits == 1  # cached


def test_expiry_within_the_leeway_is_accepted(oidc, keys):
    now = int(time.time())
    assert oidc.authenticate(bearer(sign(keys, "rsa1", "RS256", exp=now - 30)), {}) is not None


# ---- refused -------------------------------------------------------------------------------------


def refused(auth, token) -> str:
    with pytest.raises(Unauthenticated) as err:
        auth.authenticate(bearer(token), {})
    assert err.value.http_status == 401
    return err.value.message


def test_wrong_issuer_is_refused_without_fetching_keys(jwks_server, keys):
    auth = served(jwks_server)
    message = refused(auth, sign(keys, "rsa1", "RS256", iss="https://gitlab.com"))
    assert message == f"JWT issuer 'https://gitlab.com' is not accepted; expected '{ISSUER}'"
    assert jwks_server.hits == 0


def test_wrong_audience_is_refused(oidc, keys):
    assert "audience is not accepted" in refused(oidc, sign(keys, "rsa1", "RS256", aud="https://other.example"))
    assert "lacks the required claim 'aud'" in refused(oidc, sign(keys, "rsa1", "RS256", aud=None))


def test_expired_is_refused(oidc, keys):
    now = int(time.time())
    assert "JWT has expired" in refused(oidc, sign(keys, "rsa1", "RS256", iat=now - 900, nbf=None, exp=now - 120))
    assert "lacks the required claim 'exp'" in refused(oidc, sign(keys, "rsa1", "RS256", exp=None))


def test_not_yet_valid_is_refused(oidc, keys):
    assert "not valid yet: its 'nbf'" in refused(oidc, sign(keys, "rsa1", "RS256", nbf=int(time.time()) + 600))
    assert "not valid yet: its 'iat'" in refused(oidc, sign(keys, "rsa1", "RS256", iat=int(time.time()) + 600))


def test_alg_none_is_refused(oidc):
    token = handmade({"alg": "none", "typ": "JWT"}, claims())
    assert looks_like_jwt(token)
    assert refused(oidc, token).startswith("JWT algorithm 'none' is not accepted")


def test_hs256_signed_with_the_public_key_is_refused(oidc, keys):
    """Key confusion: an attacker signs with HMAC, using the issuer's public key as the secret."""
    public_pem = (
        keys["rsa1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa1"}
    signing_input = handmade(header, claims())[:-1].encode()
    token = handmade(header, claims(), hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    assert refused(oidc, token).startswith("JWT algorithm 'HS256' is not accepted")


def test_symmetric_keys_in_the_jwks_are_ignored(tmp_path, keys):
    secret = b"shared-secret-of-32-bytes-length!"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "hmac", "k": b64(secret)}, jwk("ec1", keys["ec1"])]}))
    auth = OidcAuthenticator(OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_file=str(path)))
    with pytest.raises(ValueError, match="asymmetric"):
        OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_file=str(path), algorithms=("ES256", "HS256"))
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "hmac"})
    assert "'HS256' is not accepted" in refused(auth, token)


def test_bad_signature_is_refused(oidc, keys):
    forged = jwt.encode(claims(), keys["rsa2"], algorithm="RS256", headers={"kid": "rsa1"})
    assert refused(oidc, forged) == "JWT signature does not verify with the issuer's key 'rsa1'"
    token = sign(keys, "rsa1", "RS256")
    head, body, signature = token.split(".")
    tampered_body = b64(json.dumps(claims(sub="repo:octo-org/other:ref:refs/heads/main")).encode())
    assert "signature does not verify" in refused(oidc, f"{head}.{tampered_body}.{signature}")


def test_algorithm_must_suit_the_key(oidc, keys):
    # The header says ES256 but names the RSA key; and the RSA key is declared RS256 only.
    token = jwt.encode(claims(), keys["ec1"], algorithm="ES256", headers={"kid": "rsa1"})
    assert refused(oidc, token) == "JWT algorithm ES256 does not match key 'rsa1' (RS256)"
    token = jwt.encode(claims(), keys["rsa1"], algorithm="PS256", headers={"kid": "rsa1"})
    assert "does not match key 'rsa1'" in refused(oidc, token)


def test_missing_identity_claim_is_refused(oidc, keys):
    assert refused(oidc, sign(keys, "rsa1", "RS256", sub=None)) == "JWT lacks the claim 'sub' that names the caller"


@pytest.mark.parametrize("subject", ["a\ud800b", "a\nb", "a\x00b"], ids=["surrogate", "newline", "nul"])
def test_an_identity_claim_the_audit_trail_could_not_record_is_refused(oidc, keys, subject):
    # A lone surrogate (JSON can spell one) failed when the audit entry was written: a 500.
    message = refused(oidc, sign(keys, "rsa1", "RS256", sub=subject))
    assert message == "JWT claim 'sub' holds control characters or a lone surrogate"


def test_malformed_jwt_is_refused(oidc):
    assert refused(oidc, "abc.def.ghi").startswith("malformed JWT")


def test_other_credentials_are_not_ours(oidc):
    assert oidc.authenticate({}, {}) is None
    assert oidc.authenticate(bearer("gfp_0123456789abcdef_" + "a" * 43), {}) is None
    assert oidc.authenticate({"Authorization": "Basic eC55Lno="}, {}) is None


# ---- the key cache -------------------------------------------------------------------------------


def test_unknown_kid_refetches_once_then_is_rate_limited(jwks_server, keys):
    now = [1000.0]
    auth = served(jwks_server, clock=lambda: now[0])
    auth.authenticate(bearer(sign(keys, "rsa1", "RS256")), {})
    assert jwks_server.hits == 1
    stranger = sign(keys, "ed1", "EdDSA")  # ed1 is not in the served JWKS
    refused(auth, stranger)
    assert jwks_server.hits == 1  # the keys were read less than MIN_REFRESH_SECONDS ago
    now[0] += 31
    assert refused(auth, stranger) == "the JWT is signed with key 'ed1', which is not among the issuer's keys"
    assert jwks_server.hits == 2
    refused(auth, stranger)
    assert jwks_server.hits == 2  # not again within MIN_REFRESH_SECONDS
    now[0] += 31
    refused(auth, stranger)
    assert jwks_server.hits == 3


def test_rotated_key_is_picked_up(jwks_server, keys):
    now = [1000.0]
    auth = served(jwks_server, clock=lambda: now[0])
    auth.authenticate(bearer(sign(keys, "rsa1", "RS256")), {})
    jwks_server.document = json.dumps(jwks(keys, "rsa2")).encode()
    now[0] += 60
    principal = auth.authenticate(bearer(sign(keys, "rsa2", "RS256")), {})
    assert principal is not None and jwks_server.hits == 2


def test_keys_are_reread_after_the_ttl(jwks_server, keys):
    now = [1000.0]
    auth = served(jwks_server, clock=lambda: now[0], jwks_ttl=600)
    token = sign(keys, "rsa1", "RS256")
    auth.authenticate(bearer(token), {})
    now[0] += 599
    auth.authenticate(bearer(token), {})
    assert jwks_server.hits == 1
    now[0] += 2
    auth.authenticate(bearer(token), {})
    assert jwks_server.hits == 2


def test_unreachable_jwks_is_unavailable_then_stale_keys_are_kept(jwks_server, keys):
    now = [1000.0]
    auth = served(jwks_server, clock=lambda: now[0], jwks_ttl=600)
    jwks_server.status = 500
    with pytest.raises(JwksUnavailable) as err:
        auth.authenticate(bearer(sign(keys, "rsa1", "RS256")), {})
    assert err.value.http_status == 503 and err.value.status == "UNAVAILABLE"
    jwks_server.status = 200
    now[0] += 31
    auth.authenticate(bearer(sign(keys, "rsa1", "RS256")), {})
    jwks_server.status = 500
    now[0] += 601  # the TTL has passed and the refetch fails: the keys held still verify
    assert auth.authenticate(bearer(sign(keys, "rsa1", "RS256")), {}) is not None


def test_redirects_are_not_followed(jwks_server, keys, caplog):
    s = OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_url=url_of(jwks_server, "/redirect"))
    with pytest.raises(JwksUnavailable) as err:
        OidcAuthenticator(s).authenticate(bearer(sign(keys, "rsa1", "RS256")), {})
    assert "302" in caplog.text and "/redirect" in caplog.text
    assert "127.0.0.1" not in err.value.message  # the operator's log says where; the caller is not told
    assert jwks_server.hits == 0


# ---- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"audiences": ()}, "audience"),
        ({"issuer": ""}, "issuer"),
        ({"jwks_file": None}, "exactly one"),
        ({"jwks_url": "https://example.com/jwks"}, "exactly one"),
        ({"jwks_file": None, "jwks_url": "http://keys.example.com/jwks"}, "must be https"),
        ({"algorithms": ("RS256", "none")}, "asymmetric"),
        ({"id_prefix": ""}, "GRAFEAS_OIDC_ID_PREFIX"),
        ({"id_prefix": "token:"}, "GRAFEAS_OIDC_ID_PREFIX"),
        ({"id_prefix": "tok"}, "GRAFEAS_OIDC_ID_PREFIX"),  # + a subject "en:admin" would be token:admin
        ({"id_prefix": "Spiffe"}, "GRAFEAS_OIDC_ID_PREFIX"),
        ({"group_prefix": "group:x"}, "GRAFEAS_OIDC_GROUP_PREFIX"),
        ({"kind": "token"}, "kind"),
    ],
)
def test_bad_settings(overrides, message):
    base = {"issuer": ISSUER, "audiences": (AUDIENCE,), "jwks_file": "/etc/jwks.json"}
    with pytest.raises(ValueError, match=message):
        OidcSettings(**{**base, **overrides})


def test_loopback_http_is_allowed_for_jwks():
    for url in ("http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]/jwks"):
        OidcSettings(issuer=ISSUER, audiences=(AUDIENCE,), jwks_url=url)
