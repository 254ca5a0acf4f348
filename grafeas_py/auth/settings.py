"""Authentication settings, read from the environment (GRAFEAS_AUTH, GRAFEAS_OIDC_*, GRAFEAS_MTLS_*).

GRAFEAS_AUTH  `none` (the default), or the methods to try, in order, from `token`, `oidc` and
    `mtls`, comma-separated, e.g. `mtls,token,oidc`. `none` cannot be combined with the others.

With `oidc`:
GRAFEAS_OIDC_ISSUER  required; the exact `iss` of accepted JWTs, e.g. https://token.actions.githubusercontent.com
GRAFEAS_OIDC_AUDIENCE  required; accepted `aud` values, comma-separated: what CI jobs ask their token for
GRAFEAS_OIDC_JWKS_URL  the issuer's JWKS, https (http only to a loopback address); or instead
GRAFEAS_OIDC_JWKS_FILE  the path of a JWKS file
GRAFEAS_OIDC_JWKS_TTL  seconds to keep the keys before reading them again; default 600
GRAFEAS_OIDC_JWKS_TIMEOUT  seconds to wait for the JWKS URL; default 5
GRAFEAS_OIDC_ALGORITHMS  accepted signature algorithms, comma-separated, asymmetric only; default all of
    RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA
GRAFEAS_OIDC_ID_CLAIM  the claim that names the caller; default `sub`
GRAFEAS_OIDC_ID_PREFIX  put before that claim's value to make the principal id; default `<issuer>#`
GRAFEAS_OIDC_GROUPS_CLAIM  a claim (string or list of strings) whose values are the caller's groups; default none
GRAFEAS_OIDC_GROUP_PREFIX  put before each group value, after `group:`; default `<issuer>#`
GRAFEAS_OIDC_LEEWAY  seconds of clock skew allowed on exp, nbf and iat; default 60
GRAFEAS_OIDC_KIND  principal kind of OIDC callers: `service` (CI jobs, the default) or `user` (people)

With `mtls`:
GRAFEAS_MTLS_TRUSTED_PROXIES  addresses or networks, comma-separated, whose client-certificate header is
    believed; default none, so the header is never read
GRAFEAS_MTLS_HEADER  that header's name; default X-Forwarded-Client-Cert

Always:
GRAFEAS_AUDIT_KEY  if set, the audit chain is keyed with it, HMAC-SHA256 (see `audit` for the trade-off);
    use 32 or more random characters

A GitHub Actions setup, for example: `GRAFEAS_AUTH=token,oidc`,
`GRAFEAS_OIDC_ISSUER=https://token.actions.githubusercontent.com`,
`GRAFEAS_OIDC_JWKS_URL=https://token.actions.githubusercontent.com/.well-known/jwks`,
`GRAFEAS_OIDC_AUDIENCE=grafeas.example.com`, `GRAFEAS_OIDC_ID_PREFIX=github:`,
`GRAFEAS_OIDC_GROUPS_CLAIM=repository_owner`, `GRAFEAS_OIDC_GROUP_PREFIX=github:`: a job of
octo-org/app on main is then `github:repo:octo-org/app:ref:refs/heads/main`, in `group:github:octo-org`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .mtls import XFCC_HEADER, MtlsSettings
from .oidc import ASYMMETRIC_ALGORITHMS, OidcSettings

METHODS = ("none", "token", "oidc", "mtls")


@dataclass(frozen=True)
class AuthSettings:
    """Which authentication methods run, in order, and how each is set up."""

    methods: tuple[str, ...] = ("none",)
    oidc: OidcSettings | None = None
    mtls: MtlsSettings = field(default_factory=MtlsSettings)
    audit_key: bytes | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown:
            raise ValueError(f"GRAFEAS_AUTH takes 'none' or a list of token, oidc, mtls; got {','.join(self.methods)}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"GRAFEAS_AUTH names a method twice: {','.join(self.methods)}")
        if "none" in self.methods and len(self.methods) > 1:
            raise ValueError(
                "GRAFEAS_AUTH=none cannot be combined with other methods: anonymous callers would have full rights, "
                "so credentials would protect nothing"
            )
        if ("oidc" in self.methods) != (self.oidc is not None):
            raise ValueError("OIDC settings are needed exactly when GRAFEAS_AUTH includes oidc")

    @property
    def is_open(self) -> bool:
        """True when nobody has to authenticate (GRAFEAS_AUTH=none)."""
        return self.methods == ("none",)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AuthSettings:
        methods = tuple(m.strip().lower() for m in environ.get("GRAFEAS_AUTH", "none").split(",") if m.strip())
        methods = methods or ("none",)
        audit_key = environ.get("GRAFEAS_AUDIT_KEY") or None
        return cls(
            methods=methods,
            oidc=_oidc_from_env(environ) if "oidc" in methods else None,
            mtls=MtlsSettings(
                trusted_proxies=_list(environ.get("GRAFEAS_MTLS_TRUSTED_PROXIES", "")),
                header=environ.get("GRAFEAS_MTLS_HEADER") or XFCC_HEADER,
            ),
            audit_key=audit_key.encode() if audit_key else None,
        )


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_A_YEAR = 365 * 86400


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number):  # an infinite leeway would take every expired token
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if not 0 <= number <= _A_YEAR:  # as for the other seconds (config._env_seconds): 1e300 is a typo
        raise ValueError(f"{name} must be from 0 to {_A_YEAR} seconds, got {value!r}")
    return number


def _oidc_from_env(environ: Mapping[str, str]) -> OidcSettings:
    return OidcSettings(
        issuer=environ.get("GRAFEAS_OIDC_ISSUER", ""),
        audiences=_list(environ.get("GRAFEAS_OIDC_AUDIENCE", "")),
        jwks_url=environ.get("GRAFEAS_OIDC_JWKS_URL") or None,
        jwks_file=environ.get("GRAFEAS_OIDC_JWKS_FILE") or None,
        jwks_ttl=_number(environ, "GRAFEAS_OIDC_JWKS_TTL", 600.0),
        jwks_timeout=_number(environ, "GRAFEAS_OIDC_JWKS_TIMEOUT", 5.0),
        algorithms=_list(environ.get("GRAFEAS_OIDC_ALGORITHMS", "")) or ASYMMETRIC_ALGORITHMS,
        id_claim=environ.get("GRAFEAS_OIDC_ID_CLAIM") or "sub",
        id_prefix=environ.get("GRAFEAS_OIDC_ID_PREFIX"),
        groups_claim=environ.get("GRAFEAS_OIDC_GROUPS_CLAIM") or None,
        group_prefix=environ.get("GRAFEAS_OIDC_GROUP_PREFIX"),
        leeway=_number(environ, "GRAFEAS_OIDC_LEEWAY", 60.0),
        kind=environ.get("GRAFEAS_OIDC_KIND") or "service",  # type: ignore[arg-type]  # checked by OidcSettings
    )
