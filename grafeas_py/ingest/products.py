"""Which artifact, or which package, a VEX document's product identifiers name (OpenVEX, CSAF).

A product names the artifact being ingested when one of its identifiers pins that artifact's sha256
digest: a purl whose version is `sha256:<hex>` (`pkg:oci/app@sha256%3A...`), an image reference or
resource URI pinning it (gate/artifacts.py's rule), or a SHA-256 hash of it. It names a package when
it has a purl of a type other than oci and docker (those name images), or a CPE: as gate/purls.py
reads them, so that the assessment clears findings in that package only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from grafeas_py.gate.artifacts import artifact_digest
from grafeas_py.gate.purls import split_purl_version

_HEX64 = re.compile(r"[0-9a-f]{64}")
_IMAGE_PURLS = ("pkg:oci/", "pkg:docker/")


def named_digests(identifiers: Iterable[str], sha256s: Iterable[str] = ()) -> set[str]:
    """The sha256 digests (lowercase hex) that `identifiers` (purls, image references, URIs) pin, and
    the `sha256s` given as hashes that are well-formed."""
    found = set()
    for identifier in identifiers:
        if identifier.startswith("pkg:"):
            version = unquote(split_purl_version(identifier)[1])
            if version.startswith("sha256:") and _HEX64.fullmatch(version[7:]):
                found.add(version[7:])
        elif identifier and (pinned := artifact_digest(identifier)):
            found.add(pinned)
    return found | {value.lower() for value in sha256s if _HEX64.fullmatch(value.lower())}


def named_package(purls: Iterable[str], cpes: Iterable[str]) -> str:
    """The first of `purls` that names a package, else the first of `cpes` that is a CPE; "" if none."""
    for purl in purls:
        if purl.startswith("pkg:") and not purl.lower().startswith(_IMAGE_PURLS):
            return purl
    return next((cpe for cpe in cpes if cpe.startswith("cpe:")), "")
