"""Reading credentials out of request headers, whatever mapping the web framework hands over."""

from __future__ import annotations

from collections.abc import Mapping


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """The header's value, matching its name without regard to case as HTTP does."""
    value = headers.get(name)
    if value is not None:
        return value
    # Werkzeug's Headers ignore case already; a plain dict (tests, other servers) may not.
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credential of `Authorization: Bearer <credential>`, or None for no header or another scheme."""
    value = get_header(headers, "Authorization")
    if not value:
        return None
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip()
