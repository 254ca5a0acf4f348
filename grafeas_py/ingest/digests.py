"""The sha256 digest an artifact's resource URI names, by the one rule ingestion and the gate share.

Images name their manifest digest the registry way, `https://registry/repo@sha256:<hex>`; any other
artifact carries it as a URI fragment, `https://example.com/app.tar.gz#sha256:<hex>`. The hex is the
64 lowercase digits OCI digests use.
"""

from __future__ import annotations

import re

from grafeas_py.errors import InvalidArgument

_DIGEST = re.compile(r"[@#]sha256:([0-9a-f]{64})\Z")


def resource_digest(resource_uri: str) -> str | None:
    """The sha256 hex named at the end of the URI, or None when it names none."""
    match = _DIGEST.search(resource_uri)
    return match.group(1) if match else None


def require_resource_digest(resource_uri: str) -> str:
    """The sha256 hex named by the URI; InvalidArgument when it names none."""
    digest = resource_digest(resource_uri)
    if digest is None:
        raise InvalidArgument(
            f"resourceUri must name the artifact's digest, ending in @sha256:<64 hex> for an image or "
            f"#sha256:<64 hex> for another artifact, got {resource_uri!r}"
        )
    return digest
