"""API tokens: long random secrets the server shows once and keeps only as a hash.

A token reads `gfp_<id>_<secret>`: `id` is 16 hex digits that find the record (not a secret; it
appears in logs and admin listings), `secret` is 32 random bytes in URL-safe base64. The fixed
`gfp_` prefix lets secret scanners spot leaked tokens and tells them apart from JWTs.

The record keeps SHA-256 of the secret. Slow password hashes (bcrypt, scrypt, argon2) exist to make
guessing a *low-entropy* password expensive after a database leak; a 256-bit random secret cannot
be guessed at any hash speed, and there is no dictionary to precompute, so they would add nothing
but ~100 ms of CPU to every request, which is also an easy way to exhaust the server. A leaked
table therefore gives away no usable token.

Tokens arrive as `Authorization: Bearer gfp_...` and authenticate as `token:<name>`: the name
belongs to whoever the token was made for, so a rotated token keeps its bindings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import InvalidArgument, Unauthenticated
from .headers import bearer_token
from .principal import Principal

TOKEN_PREFIX = "gfp_"
_TOKEN = re.compile(r"gfp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}\Z")


@dataclass(frozen=True)
class TokenRecord:
    """What the server stores for a token: never the secret, only its SHA-256."""

    token_id: str
    name: str
    secret_sha256: str  # hex
    created: dt.datetime
    expires: dt.datetime | None = None
    revoked: dt.datetime | None = None

    @property
    def principal_id(self) -> str:
        return f"token:{self.name}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def generate_token(
    name: str, now: dt.datetime | None = None, expires: dt.datetime | None = None
) -> tuple[str, TokenRecord]:
    """A new token for `name`: the text to show its owner once, and the record to store."""
    if not _NAME.match(name):
        raise InvalidArgument(
            f"token name must be 1 to 100 letters, digits or '.', '_', '@', '-', starting with a letter or digit, "
            f"got {name!r}"
        )
    now = now or _utcnow()
    if expires is not None and expires <= now:
        raise InvalidArgument("a token must expire after it is created")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = TokenRecord(token_id, name, _sha256(secret), created=now, expires=expires)
    return f"{TOKEN_PREFIX}{token_id}_{secret}", record


def revoke(record: TokenRecord, now: dt.datetime | None = None) -> TokenRecord:
    """The record as it must be stored once revoked; revoking twice keeps the first time."""
    return record if record.revoked else dataclasses.replace(record, revoked=now or _utcnow())


def looks_like_api_token(credential: str) -> bool:
    """True when a bearer credential has our prefix (so it is ours to accept or refuse)."""
    return credential.startswith(TOKEN_PREFIX)


def verify_token(
    presented: str, lookup: Callable[[str], TokenRecord | None], now: dt.datetime | None = None
) -> TokenRecord:
    """The record of a valid token; Unauthenticated if it is malformed, unknown, wrong, revoked or expired."""
    match = _TOKEN.match(presented)
    if not match:
        raise Unauthenticated("malformed API token: expected gfp_<16 hex digits>_<43 characters>")
    token_id, secret = match.groups()
    record = lookup(token_id)
    # Unknown id and wrong secret get the same answer. The secret is checked before anything else
    # about the record is said, so only the token's holder learns it was revoked or expired.
    if record is None or not hmac.compare_digest(record.secret_sha256, _sha256(secret)):
        raise Unauthenticated(f"API token {TOKEN_PREFIX}{token_id} is not valid")
    now = now or _utcnow()
    if record.revoked is not None:
        raise Unauthenticated(f"API token {TOKEN_PREFIX}{token_id} was revoked")
    if record.expires is not None and now >= record.expires:
        raise Unauthenticated(f"API token {TOKEN_PREFIX}{token_id} expired at {record.expires.isoformat()}")
    return record


class TokenAuthenticator:
    """Accepts `Authorization: Bearer gfp_...`; leaves other credentials to other methods."""

    name = "token"

    def __init__(
        self, lookup: Callable[[str], TokenRecord | None], clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.lookup = lookup
        self.clock = clock or _utcnow

    def authenticate(self, headers: Mapping[str, str], environ: Mapping) -> Principal | None:
        credential = bearer_token(headers)
        if not credential or not looks_like_api_token(credential):
            return None
        record = verify_token(credential, self.lookup, self.clock())
        return Principal(record.principal_id, "token", via=self.name, credential=record.token_id)
