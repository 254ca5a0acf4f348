"""The sha256 digest an artifact's resource URI names: the gate's rule (`gate.artifacts`), so that
what ingestion records about an artifact is what the gate later checks it against.

Images name their manifest digest the registry way, `https://registry/repo@sha256:<hex>`; JARs,
WARs and ZIPs carry it as a `#sha256=<hex>` fragment, and generic files in Grafeas's
`file://sha256:<hex>:<name>` form.
"""

from __future__ import annotations

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate.artifacts import artifact_digest


def resource_digest(resource_uri: str) -> str | None:
    """The sha256 hex the URI pins, or None when it pins none."""
    return artifact_digest(resource_uri)


def require_resource_digest(resource_uri: str) -> str:
    """The sha256 hex named by the URI; InvalidArgument when it names none."""
    digest = resource_digest(resource_uri)
    if digest is None:
        raise InvalidArgument(
            f"resourceUri must name the artifact's digest: an image ending in @sha256:<64 hex>, a .jar, .war or "
            f".zip URL ending in #sha256=<64 hex>, or file://sha256:<64 hex>:<name>; got {resource_uri!r}"
        )
    return digest
