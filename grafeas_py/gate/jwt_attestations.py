"""JWT attestations: the compact JWS tokens of `AttestationOccurrence.jwts`, as Binary Authorization writes them.

The header names the signing key (`kid`, an attestor key id) and its algorithm (`alg`, which must be
the JWS name of that key's algorithm: ES256, PS256, RS256, EdDSA, ...); the claims name the artifact,
`sub` = `container:digest:sha256:<hex>`. `exp` and `nbf`, when present, are checked against the
decision's time rather than the clock, so a decision can be replayed. A token with `crit` header
extensions is refused, since none are understood here. PyJWT verifies the signature.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import jwt

from .keys import jws_algorithm
from .model import Attestor
from .occurrences import Malformed

SUBJECT_PREFIX = "container:digest:sha256:"

# The engine judges times itself, against the decision's `now`; audiences and issuers are not part of the
# attestation format.
_SIGNATURE_ONLY = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False}


def key_id(token: str) -> str:
    """The `kid` a token's header names ("" when none); raises Malformed."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Malformed(f"a JWT cannot be read: {exc}") from None
    if "crit" in header:
        raise Malformed(f"a JWT has critical header extensions ({header['crit']!r}), which are not supported")
    kid = header.get("kid", "")
    if not isinstance(kid, str):
        raise Malformed("a JWT's kid is not a string")
    return kid


def verified_claims(token: str, attestor: Attestor) -> dict | None:
    """The claims of a token that verifies with one of the attestor's keys, None when none does; raises Malformed."""
    for key in attestor.keys_for(key_id(token)):
        if key.is_pgp:
            continue  # JWS has no OpenPGP algorithm
        try:
            return jwt.decode(token, key.key, algorithms=[jws_algorithm(key.algorithm)], options=_SIGNATURE_ONLY)
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            continue  # another key, or another algorithm than this key's
        except jwt.InvalidTokenError as exc:
            raise Malformed(f"a JWT cannot be read: {exc}") from None
    return None


def out_of_date(claims: dict, now: datetime) -> str | None:
    """Why the claims are not valid at `now` (`exp` passed, `nbf` to come), or None; raises Malformed."""
    for claim in ("exp", "nbf"):
        value = claims.get(claim)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise Malformed(f"a JWT's {claim} is not a number of seconds")
        # JSON has no NaN or Infinity, but the parser reads them (and 1e400 as inf): an exp of NaN,
        # compared with nothing, never passed, and a token meant to expire lasted for ever.
        if isinstance(value, float) and not math.isfinite(value):
            raise Malformed(f"a JWT's {claim} is {value}, not a number of seconds")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if exp is not None and now.timestamp() >= exp:
        return f"expired at {_instant(exp)}"
    if nbf is not None and now.timestamp() < nbf:
        return f"is not valid before {_instant(nbf)}"
    return None


def subject_digest(claims: dict) -> str | None:
    """The sha256 digest (hex) that `sub` names, or None."""
    subject = claims.get("sub")
    if isinstance(subject, str) and subject.startswith(SUBJECT_PREFIX):
        return subject.removeprefix(SUBJECT_PREFIX).lower()
    return None


def _instant(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{seconds} seconds after the epoch"
