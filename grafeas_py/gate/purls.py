"""Which package a package URL or CPE names: the gate's rule, so that ingestion names packages as the gate reads them.

A VEX assessment limited to one package (its note's `product.id` is a purl or a CPE) clears only the
findings in that package. Findings locate their package in `packageIssue.affectedCpeUri`, as
ingestion writes it: the purl without its version, else the CPE.
"""

from __future__ import annotations

from urllib.parse import unquote


def split_purl_version(purl: str) -> tuple[str, str]:
    """A package URL without its version, and the version as written ("" when it has none)."""
    # `pkg:type/namespace/name@version?qualifiers#subpath`: the version follows the last @ before the
    # qualifiers and holds no `/`. The spec escapes an @ in a namespace as %40, but npm scopes are often
    # written bare (`pkg:npm/@babel/core@7.22.0`), and that @ is followed by a `/`.
    end = min((i for i in (purl.find("?"), purl.find("#")) if i >= 0), default=len(purl))
    at = purl.rfind("@", 0, end)
    if not purl.startswith("pkg:") or at < 0 or "/" in purl[at:end]:
        return purl, ""
    return purl[:at] + purl[end:], purl[at + 1 : end]


def purl_version(purl: str) -> str:
    """A purl's version unescaped, with its epoch (`with_epoch`); "" when it has none."""
    return with_epoch(unquote(split_purl_version(purl)[1]), purl)


def with_epoch(version: str, purl: str) -> str:
    """A package version with the epoch the purl's `epoch` qualifier gives, as RPM scanners write it
    (`1.0.2k-16.el7` of `pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?epoch=1` is `1:1.0.2k-16.el7`)."""
    _, question, rest = purl.partition("?") if purl.startswith("pkg:") else ("", "", "")
    qualifiers = rest.partition("#")[0].split("&") if question else []
    epoch = next((unquote(q[6:]) for q in qualifiers if q.lower().startswith("epoch=")), "")
    return f"{epoch}:{version}" if version and epoch and ":" not in version else version


def _scheme_lowered(identifier: str) -> str:
    """A purl or CPE with its scheme in lower case, as URL schemes compare: `PKG:npm/x` is `pkg:npm/x`."""
    scheme = identifier[:4].lower()
    return scheme + identifier[4:] if scheme in ("pkg:", "cpe:") else identifier


def names_package(identifier: str) -> bool:
    """Whether an identifier is a package URL or a CPE, and so names one package."""
    # Read as no package, `PKG:npm/lodash` made an assessment of the artifact as a whole.
    return _scheme_lowered(identifier).startswith(("pkg:", "cpe:"))


def in_package(package: str, location: str, version: str) -> bool:
    """Whether a finding at `location` (a purl without version, or a CPE) and `version` is in `package`."""
    package = _scheme_lowered(package)
    if not package.startswith("pkg:"):
        return location == package  # a CPE holds its version
    name, wanted = split_purl_version(package)
    # Type, namespace and name, percent-escaped or not: tools differ in the qualifiers they add
    # (arch, distro, repository_url), not in which package they mean.
    if _package_name(name) != _package_name(location):
        return False
    # A subpath narrows the package to a part of it (a Go module's package): an assessment of that part
    # says nothing of the others. Without one, it is about the whole package.
    if (subpath := _subpath(name)) and _subpath(location) != subpath:
        return False
    return not wanted or purl_version(package) == version


def _subpath(purl: str) -> str:
    """A purl's subpath, unescaped, without the slashes around it; "" when it has none."""
    _, hash_sign, subpath = purl.partition("#")
    return unquote(subpath).strip("/") if hash_sign else ""


def _package_name(purl: str) -> str:
    """`pkg:type/namespace/name` of a purl without its version, unescaped, its type in lower case."""
    end = min((i for i in (purl.find("?"), purl.find("#")) if i >= 0), default=len(purl))
    kind, _, rest = purl[4:end].lstrip("/").partition("/")
    return f"pkg:{kind.lower()}/{unquote(rest)}" if purl.startswith("pkg:") else purl
