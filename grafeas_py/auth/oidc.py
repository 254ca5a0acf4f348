"""OIDC bearer tokens: the signed JWTs that CI systems (GitHub Actions, GitLab CI) give their jobs.

A token is accepted when it is signed by one of the issuer's keys with an asymmetric algorithm
from the allowed list, and its `iss`, `aud`, `exp` and `nbf` hold (with a small leeway for clock
skew). `none` and the HMAC algorithms are never accepted: with HS256 a verifier's *public* key
would become the shared secret, and anyone could sign with it.

The keys come from a JWKS document (a file, or an https URL fetched with a timeout), kept for a TTL
and refetched early, at most every `MIN_REFRESH_SECONDS`, when a token names a key id not seen yet
(the issuer rotated its keys). If a refetch fails the keys already held stay in use.

The caller's principal id is a configured claim (default `sub`) behind a prefix (default the
issuer and `#`, so two issuers can never name the same principal); groups come from another
claim, with their own prefix, as `group:<prefix><value>`.

Known JWKS addresses: GitHub Actions https://token.actions.githubusercontent.com/.well-known/jwks
(issuer https://token.actions.githubusercontent.com); GitLab.com https://gitlab.com/oauth/discovery/keys
(issuer https://gitlab.com).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from ..errors import ApiError, Unauthenticated
from .headers import bearer_token
from .principal import Kind, Principal

log = logging.getLogger("grafeas_py.auth")

# Algorithm -> the JWK key type it verifies with. Only asymmetric ones, so a key can never double
# as a shared secret.
KEY_TYPE_BY_ALGORITHM = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
}
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = tuple(KEY_TYPE_BY_ALGORITHM)
MIN_REFRESH_SECONDS = 30.0
# Principal namespaces other methods own; an OIDC prefix must not let a claim value enter them.
RESERVED_PREFIXES = ("group:", "token:", "cert:", "spiffe:", "anonymous")
_UNSTORABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_JWKS_BYTES = 1024 * 1024
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")


class JwksUnavailable(ApiError):
    """The issuer's keys could not be loaded at all: the server's problem, not the caller's."""

    http_status, status = 503, "UNAVAILABLE"


@dataclass(frozen=True)
class OidcSettings:
    """One trusted OIDC issuer; see `settings.AuthSettings.from_env` for the environment variables."""

    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str | None = None
    jwks_file: str | None = None
    jwks_ttl: float = 600.0
    jwks_timeout: float = 5.0
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    id_claim: str = "sub"
    id_prefix: str | None = None  # None: "<issuer>#"
    groups_claim: str | None = None
    group_prefix: str | None = None  # None: "<issuer>#"
    leeway: float = 60.0
    kind: Kind = "service"

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("OIDC needs an issuer (GRAFEAS_OIDC_ISSUER), the exact 'iss' of its tokens")
        if not self.audiences or not all(self.audiences):
            raise ValueError(
                "OIDC needs at least one audience (GRAFEAS_OIDC_AUDIENCE): without it a token minted for any "
                "other service by the same issuer would be accepted here"
            )
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("OIDC needs exactly one of GRAFEAS_OIDC_JWKS_URL and GRAFEAS_OIDC_JWKS_FILE")
        if self.jwks_url is not None:
            check_jwks_url(self.jwks_url)
        refused = [a for a in self.algorithms if a not in KEY_TYPE_BY_ALGORITHM]
        if refused or not self.algorithms:
            raise ValueError(
                f"OIDC algorithms must be asymmetric, from {', '.join(ASYMMETRIC_ALGORITHMS)}; refused: {refused}"
            )
        if self.kind not in ("user", "service"):
            raise ValueError(f"OIDC principals are of kind 'user' or 'service', got {self.kind!r}")
        prefixes = {"GRAFEAS_OIDC_ID_PREFIX": self.id_prefix, "GRAFEAS_OIDC_GROUP_PREFIX": self.group_prefix}
        for name, prefix in prefixes.items():
            # Overlapping either way: "tok" + a subject "en:admin" is token:admin too.
            if prefix is not None and (
                not prefix
                or any(prefix.lower().startswith(r) or r.startswith(prefix.lower()) for r in RESERVED_PREFIXES)
            ):
                raise ValueError(
                    f"{name} must not be empty nor overlap {', '.join(RESERVED_PREFIXES)}: "
                    f"a token's claims could then pass for another kind of principal; got {prefix!r}"
                )
        if self.jwks_ttl <= 0 or self.jwks_timeout <= 0 or self.leeway < 0:
            raise ValueError("OIDC JWKS TTL and timeout must be positive, the leeway not negative")

    def check_jwks_file(self) -> None:
        """The JWKS file is there and holds a JWKS (ValueError in one line): asked once as the server starts,
        so that it is found then rather than as a 503 on every OIDC request. Not asked as each worker boots:
        a file rotated or removed since would stop the whole server at the next worker replaced, where
        JwksCache keeps the keys it read and answers OIDC requests alone with 503s."""
        if self.jwks_file is None:
            return
        try:
            parse_jwks(json.loads(Path(self.jwks_file).read_bytes()))
        except FileNotFoundError:
            raise ValueError(f"GRAFEAS_OIDC_JWKS_FILE={self.jwks_file}: no such file") from None
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ValueError(f"GRAFEAS_OIDC_JWKS_FILE={self.jwks_file}: not a readable JWKS: {exc}") from None

    @property
    def principal_prefix(self) -> str:
        return f"{self.issuer}#" if self.id_prefix is None else self.id_prefix

    @property
    def groups_prefix(self) -> str:
        return f"{self.issuer}#" if self.group_prefix is None else self.group_prefix


def check_jwks_url(url: str) -> str:
    """Keys must come over https, or plain http from this machine: anyone on the path could swap them."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise ValueError(f"the JWKS URL must be https:// (http:// only to a loopback address), got {url!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class JsonWebKey:
    """A verification key from a JWKS, with what it declares about itself."""

    kid: str | None
    kty: str
    alg: str | None
    key: Any  # a cryptography public key


def parse_jwks(document: Mapping[str, Any]) -> list[JsonWebKey]:
    """The usable public signing keys of a JWKS; symmetric, encryption-only and unreadable keys are skipped."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError("a JWKS is a JSON object with a 'keys' list")
    usable = []
    for data in keys:
        if not isinstance(data, dict) or data.get("kty") not in ("RSA", "EC", "OKP") or data.get("use") == "enc":
            continue
        alg = data.get("alg")
        if alg is not None and alg not in KEY_TYPE_BY_ALGORITHM:
            continue
        try:
            key = jwt.PyJWK(data).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.warning("skipping JWKS key %r: %s", data.get("kid"), exc)
            continue
        usable.append(JsonWebKey(data.get("kid"), data["kty"], alg, key))
    return usable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to plain http or another host; the configured URL must serve the keys itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_url(url: str, timeout: float) -> bytes:
    """GET the document at `url`, refusing redirects and anything over MAX_JWKS_BYTES."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "grafeas-py"})
    with _opener.open(request, timeout=timeout) as response:
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
    return body


class JwksCache:
    """An issuer's keys by key id, read from a URL or a file and kept for `ttl` seconds."""

    def __init__(
        self,
        url: str | None = None,
        path: str | None = None,
        ttl: float = 600.0,
        timeout: float = 5.0,
        min_refresh: float = MIN_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("a JwksCache reads either a URL or a file")
        self.source = url or str(path)
        self._read = (lambda: fetch_url(url, timeout)) if url else (lambda: Path(path).read_bytes())
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: list[JsonWebKey] | None = None
        self._next_load = 0.0
        self._last_attempt = float("-inf")

    def key(self, kid: str | None) -> JsonWebKey:
        """The key a JWT header names; Unauthenticated if the issuer has no such key."""
        found = _select(self._current(refetch=False), kid)
        if found is None and kid is not None:
            found = _select(self._current(refetch=True), kid)  # perhaps the issuer rotated its keys
        if found is None:
            if kid is None:
                raise Unauthenticated("the JWT names no key ('kid') and the issuer has more than one")
            raise Unauthenticated(f"the JWT is signed with key {kid!r}, which is not among the issuer's keys")
        return found

    def _current(self, refetch: bool) -> list[JsonWebKey]:
        with self._lock:
            now = self.clock()
            due = self._keys is None or now >= self._next_load
            if due or (refetch and now >= self._last_attempt + self.min_refresh):
                self._load(now)
            return self._keys or []

    def _load(self, now: float) -> None:
        self._last_attempt = now
        try:
            keys = parse_jwks(json.loads(self._read()))
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors, JSONDecodeError a ValueError
            if self._keys is None:
                # Where the keys live and why reading failed is for the operator's log, not for callers.
                log.error("cannot read the JWKS from %s: %s", self.source, exc)
                raise JwksUnavailable("cannot verify JWTs now: the issuer's signing keys are unavailable") from None
            log.warning("keeping the JWKS read before: reading %s failed: %s", self.source, exc)
            self._next_load = now + self.min_refresh
            return
        self._keys = keys
        self._next_load = now + self.ttl


def _select(keys: list[JsonWebKey], kid: str | None) -> JsonWebKey | None:
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((k for k in keys if k.kid == kid), None)


def looks_like_jwt(credential: str) -> bool:
    """Three base64url parts joined by dots (the signature may be empty, so alg=none tokens are caught too)."""
    return _JWT.match(credential) is not None


class OidcAuthenticator:
    """Accepts `Authorization: Bearer <JWT>` from one issuer; leaves other credentials to other methods."""

    name = "oidc"

    def __init__(self, settings: OidcSettings, keys: JwksCache | None = None) -> None:
        self.settings = settings
        self.keys = keys or JwksCache(
            url=settings.jwks_url, path=settings.jwks_file, ttl=settings.jwks_ttl, timeout=settings.jwks_timeout
        )

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal | None:
        credential = bearer_token(headers)
        if not credential or not looks_like_jwt(credential):
            return None
        return self.principal(self.verify(credential))

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token that passes every check; Unauthenticated naming the first that fails."""
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise Unauthenticated(f"JWT algorithm {alg!r} is not accepted; accepted are {', '.join(s.algorithms)}")
        # Refuse other issuers' tokens before looking for their keys, which would only force refetches.
        if unverified.get("iss") != s.issuer:
            raise Unauthenticated(f"JWT issuer {unverified.get('iss')!r} is not accepted; expected {s.issuer!r}")
        key = self.keys.key(header.get("kid"))
        if key.kty != KEY_TYPE_BY_ALGORITHM[alg] or (key.alg is not None and key.alg != alg):
            raise Unauthenticated(f"JWT algorithm {alg} does not match key {key.kid!r} ({key.alg or key.kty})")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=list(s.algorithms),
                audience=list(s.audiences),
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(f"JWT has expired (clock skew allowed: {s.leeway:g}s)") from None
        except jwt.ImmatureSignatureError as exc:
            claim = "iat" if "(iat)" in str(exc) else "nbf"  # PyJWT says which in its message only
            raise Unauthenticated(f"JWT is not valid yet: its {claim!r} is in the future") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"JWT audience is not accepted; expected one of {list(s.audiences)}") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated(f"JWT signature does not verify with the issuer's key {key.kid!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"JWT lacks the required claim {exc.claim!r}") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise Unauthenticated(f"JWT is not valid: {exc}") from None

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The principal the verified claims name."""
        s = self.settings
        value = claims.get(s.id_claim)
        if not isinstance(value, str) or not value:
            raise Unauthenticated(f"JWT lacks the claim {s.id_claim!r} that names the caller")
        if _UNSTORABLE.search(value):  # the audit trail could not record who acted
            raise Unauthenticated(f"JWT claim {s.id_claim!r} holds control characters or a lone surrogate")
        raw = claims.get(s.groups_claim) if s.groups_claim else None
        names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        groups = frozenset(f"group:{s.groups_prefix}{g}" for g in names if isinstance(g, str) and g)
        # The token's own id names it in the audit trail, where it is one a trail can hold.
        jti = claims.get("jti")
        usable = isinstance(jti, str) and 0 < len(jti) <= 256 and not _UNSTORABLE.search(jti)
        return Principal(s.principal_prefix + value, s.kind, groups, via=self.name, credential=jti if usable else "")
