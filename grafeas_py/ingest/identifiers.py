"""How reports name packages: package URLs, CPEs, and the one identifier Grafeas's location fields take."""

from __future__ import annotations

from urllib.parse import quote

from grafeas_py.gate.purls import split_purl_version

# Package kinds that are the operating system's own packages: Grafeas's packageType "OS".
OS_PACKAGE_TYPES = frozenset({"apk", "deb", "rpm", "alpm", "portage", "os"})


def package_type(ecosystem: str) -> str:
    """Grafeas's packageType for a purl type or scanner package kind: "OS" or the ecosystem in capitals."""
    return "OS" if ecosystem.lower() in OS_PACKAGE_TYPES else ecosystem.upper()


def purl_type(purl: str) -> str:
    """The type of a package URL (`pkg:maven/...` -> "maven"), or ""."""
    if not purl.startswith("pkg:"):
        return ""
    return purl[4:].lstrip("/").split("/", 1)[0].lower()


def package_location(purl: str, cpe: str, ecosystem: str, name: str) -> str:
    """The identifier Grafeas's CPE URI fields get: the package URL, else the CPE, else a purl from the name.

    Grafeas asks for a CPE URI, but the purl is the exact identity scanners and SBOMs agree on,
    while their CPEs are often guessed; a made-up vendor CPE would be worse. The version is left
    out, as Grafeas keeps it in its own Version field: `pkg:apk/alpine/busybox?arch=x86_64`.
    """
    if purl:
        return split_purl_version(purl)[0]
    if cpe:
        return cpe
    return f"pkg:{(ecosystem or 'generic').lower()}/{quote(name, safe='')}"
