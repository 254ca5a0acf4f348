"""Required-field rules for notes and occurrences, checked on their canonical proto3-JSON dicts.

The rules follow the Grafeas v1 validators (go/v1/api/validators in grafeas/grafeas), with field
paths written in v1 lowerCamelCase, plus rules for the kinds upstream does not check (upgrade,
secret, DSSE attestation, SBOM reference). In canonical form a field at its proto3 default is
absent, so "required" means "present and not empty".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from grafeas_py.wire.grafeas_types import (
    KIND_BY_NOTE_TYPE,
    KIND_BY_OCCURRENCE_DETAILS,
    NOTE_TYPE_BY_KIND,
    OCCURRENCE_DETAILS_BY_KIND,
)

MAX_RESOURCE_URI_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ODD_RESOURCE_URI = "resourceUri must not hold control characters or begin or end with a space"

Check = Callable[[dict, str], list[str]]


# ---- helpers -------------------------------------------------------------------------------


def _at(path: str, key: str) -> str:
    """The path of field `key` inside the message at `path` ("" is the resource root)."""
    return f"{path}.{key}" if path else key


# What a canonical field value is when it counts as not set: absent, an empty string or an empty list.
_UNSET = (None, "", [])


def _missing(value) -> bool:
    """Whether a canonical field value counts as not set."""
    return value in _UNSET


def _required(obj: dict, path: str, *keys: str) -> list[str]:
    """One "<path>.<key> is required" problem for each key that is not set."""
    return [f"{_at(path, key)} is required" for key in keys if obj.get(key) in _UNSET]


def _one_of(obj: dict, path: str, *keys: str) -> list[str]:
    """A problem unless at least one of the keys is set."""
    if any(not _missing(obj.get(key)) for key in keys):
        return []
    return [f"{path} requires one of {', '.join(keys)}"]


def _nested(obj: dict, path: str, key: str, check: Check) -> list[str]:
    """Run `check` on a sub-message when it is present."""
    return check(obj[key], f"{path}.{key}") if key in obj else []


def _each(obj: dict, path: str, key: str, check: Check) -> list[str]:
    """Run `check` on every item of a repeated message field."""
    return [p for i, item in enumerate(obj.get(key, [])) for p in check(item, f"{path}.{key}[{i}]")]


def _no_empty_items(obj: dict, path: str, key: str) -> list[str]:
    """A problem for every empty string in a repeated string field."""
    return [f"{path}.{key}[{i}] must not be empty" for i, item in enumerate(obj.get(key, [])) if item == ""]


def _version(version: dict, path: str) -> list[str]:
    """A Version needs a kind, and a name when that kind is NORMAL."""
    kind = version.get("kind")
    if _missing(kind) or kind == "VERSION_KIND_UNSPECIFIED":
        return [f"{path}.kind is required"]
    if kind == "NORMAL" and _missing(version.get("name")):
        return [f"{path}.name is required when kind is NORMAL"]
    return []


def _fixed_location(obj: dict, path: str) -> list[str]:
    """A NORMAL fixedVersion needs the fixedCpeUri and fixedPackage it refers to."""
    if obj.get("fixedVersion", {}).get("kind") != "NORMAL":
        return []
    return [
        f"{path}.{key} is required when fixedVersion.kind is NORMAL"
        for key in ("fixedCpeUri", "fixedPackage")
        if _missing(obj.get(key))
    ]


# ---- vulnerability -------------------------------------------------------------------------


def _vulnerability_detail(detail: dict, path: str) -> list[str]:
    """A note detail names what it affects; its versions must be well formed."""
    problems = _required(detail, path, "affectedCpeUri", "affectedPackage")
    for key in ("affectedVersionStart", "affectedVersionEnd", "fixedVersion"):
        problems += _nested(detail, path, key, _version)
    return problems + _fixed_location(detail, path)


def _vulnerability_note(note: dict, path: str) -> list[str]:
    """A vulnerability note needs at least one detail."""
    return _required(note, path, "details") + _each(note, path, "details", _vulnerability_detail)


def _package_issue(issue: dict, path: str) -> list[str]:
    """A package issue names the affected package and both versions."""
    problems = _required(issue, path, "affectedCpeUri", "affectedPackage", "affectedVersion", "fixedVersion")
    problems += _nested(issue, path, "affectedVersion", _version)
    problems += _nested(issue, path, "fixedVersion", _version)
    return problems + _fixed_location(issue, path)


def _vulnerability_occurrence(occ: dict, path: str) -> list[str]:
    """A vulnerability occurrence needs at least one package issue."""
    return _required(occ, path, "packageIssue") + _each(occ, path, "packageIssue", _package_issue)


# ---- build and provenance ------------------------------------------------------------------


def _build_note(note: dict, path: str) -> list[str]:
    """A build note needs its builder version."""
    return _required(note, path, "builderVersion")


def _hash(digest: dict, path: str) -> list[str]:
    """A file hash needs its type and value."""
    return _required(digest, path, "type", "value")


def _file_hashes(hashes: dict, path: str) -> list[str]:
    """A file's hashes need at least one hash."""
    return _required(hashes, path, "fileHash") + _each(hashes, path, "fileHash", _hash)


def _source(source: dict, path: str) -> list[str]:
    """Every entry of a source's fileHashes map must be well formed."""
    hashes = source.get("fileHashes", {})
    return [p for name, entry in hashes.items() for p in _file_hashes(entry, f"{path}.fileHashes[{name!r}]")]


def _command(command: dict, path: str) -> list[str]:
    """A build command needs its name."""
    return _required(command, path, "name")


def _provenance(provenance: dict, path: str) -> list[str]:
    """A build provenance needs an id; its commands and sources must be well formed."""
    problems = _required(provenance, path, "id") + _each(provenance, path, "commands", _command)
    return problems + _nested(provenance, path, "sourceProvenance", _source)


def _build_occurrence(occ: dict, path: str) -> list[str]:
    """A build occurrence needs some form of provenance."""
    problems = _one_of(occ, path, "provenance", "intotoProvenance", "intotoStatement", "inTotoSlsaProvenanceV1")
    return problems + _nested(occ, path, "provenance", _provenance)


# ---- image ---------------------------------------------------------------------------------


def _fingerprint(fingerprint: dict, path: str) -> list[str]:
    """A fingerprint needs the v1 name and a non-empty list of non-empty v2 blobs."""
    return _required(fingerprint, path, "v1Name", "v2Blob") + _no_empty_items(fingerprint, path, "v2Blob")


def _image_note(note: dict, path: str) -> list[str]:
    """An image note needs the base image URL and fingerprint."""
    return _required(note, path, "resourceUrl", "fingerprint") + _nested(note, path, "fingerprint", _fingerprint)


def _layer(layer: dict, path: str) -> list[str]:
    """A layer needs its Dockerfile directive."""
    return _required(layer, path, "directive")


def _image_occurrence(occ: dict, path: str) -> list[str]:
    """An image occurrence needs the derived image fingerprint."""
    problems = _required(occ, path, "fingerprint") + _nested(occ, path, "fingerprint", _fingerprint)
    return problems + _each(occ, path, "layerInfo", _layer)


# ---- package -------------------------------------------------------------------------------


def _distribution(distribution: dict, path: str) -> list[str]:
    """A distribution needs its CPE URI; its latest version must be well formed."""
    return _required(distribution, path, "cpeUri") + _nested(distribution, path, "latestVersion", _version)


def _package_note(note: dict, path: str) -> list[str]:
    """A package note needs its name."""
    return _required(note, path, "name") + _each(note, path, "distribution", _distribution)


def _location(location: dict, path: str) -> list[str]:
    """A package location needs its CPE URI; its version must be well formed."""
    return _required(location, path, "cpeUri") + _nested(location, path, "version", _version)


def _package_occurrence(occ: dict, path: str) -> list[str]:
    """A package occurrence needs its name and at least one location."""
    return _required(occ, path, "name", "location") + _each(occ, path, "location", _location)


# ---- deployment, discovery -----------------------------------------------------------------


def _deployment_note(note: dict, path: str) -> list[str]:
    """A deployment note needs at least one non-empty resource URI."""
    return _required(note, path, "resourceUri") + _no_empty_items(note, path, "resourceUri")


def _deployment_occurrence(occ: dict, path: str) -> list[str]:
    """A deployment occurrence needs its deploy time."""
    return _required(occ, path, "deployTime")


def _discovery_note(note: dict, path: str) -> list[str]:
    """A discovery note needs the kind of analysis it covers."""
    if note.get("analysisKind") in (None, "", "NOTE_KIND_UNSPECIFIED"):
        return [f"{path}.analysisKind is required"]
    return []


# ---- attestation ---------------------------------------------------------------------------


def _hint(hint: dict, path: str) -> list[str]:
    """An authority hint needs its human readable name."""
    return _required(hint, path, "humanReadableName")


def _attestation_note(note: dict, path: str) -> list[str]:
    """An attestation note's hint, when given, must be complete."""
    return _nested(note, path, "hint", _hint)


def _signature(signature: dict, path: str) -> list[str]:
    """A signature needs its bytes and the id of the key that verifies them."""
    return _required(signature, path, "signature", "publicKeyId")


def _jwt(jwt: dict, path: str) -> list[str]:
    """A JWT entry needs its compact encoding."""
    return _required(jwt, path, "compactJwt")


def _attestation_occurrence(occ: dict, path: str) -> list[str]:
    """An attestation needs a payload or JWTs; signatures and JWTs must be complete."""
    problems = _one_of(occ, path, "serializedPayload", "jwts") + _each(occ, path, "signatures", _signature)
    return problems + _each(occ, path, "jwts", _jwt)


def _envelope(envelope: dict, path: str) -> list[str]:
    """A DSSE envelope needs its payload and payload type."""
    return _required(envelope, path, "payload", "payloadType")


def _dsse_occurrence(occ: dict, path: str) -> list[str]:
    """A DSSE attestation needs an envelope or a decoded statement."""
    return _one_of(occ, path, "envelope", "statement") + _nested(occ, path, "envelope", _envelope)


def _sbom_occurrence(occ: dict, path: str) -> list[str]:
    """An SBOM reference needs its payload and payload type."""
    return _required(occ, path, "payload", "payloadType")


# ---- upgrade, secret -----------------------------------------------------------------------


def _windows_update(update: dict, path: str) -> list[str]:
    """A Windows update needs its identity."""
    return _required(update, path, "identity")


def _upgrade_distribution(distribution: dict, path: str) -> list[str]:
    """An upgrade distribution needs its CPE URI."""
    return _required(distribution, path, "cpeUri")


def _upgrade_note(note: dict, path: str) -> list[str]:
    """An upgrade note names a package (or a Windows update); its parts must be complete."""
    problems = _one_of(note, path, "package", "windowsUpdate") + _nested(note, path, "version", _version)
    problems += _each(note, path, "distributions", _upgrade_distribution)
    return problems + _nested(note, path, "windowsUpdate", _windows_update)


def _upgrade_occurrence(occ: dict, path: str) -> list[str]:
    """An upgrade occurrence names a package (or a Windows update); its parts must be complete."""
    problems = _one_of(occ, path, "package", "windowsUpdate") + _nested(occ, path, "parsedVersion", _version)
    problems += _nested(occ, path, "distribution", _upgrade_distribution)
    return problems + _nested(occ, path, "windowsUpdate", _windows_update)


def _secret_occurrence(occ: dict, path: str) -> list[str]:
    """A secret occurrence needs the kind of secret found."""
    if occ.get("kind") in (None, "", "SECRET_KIND_UNSPECIFIED"):
        return [f"{path}.kind is required"]
    return []


# ---- tables and entry points ---------------------------------------------------------------

# Kinds left out (COMPLIANCE, VULNERABILITY_ASSESSMENT, SBOM_REFERENCE notes, SECRET notes,
# AI_SKILL_ANALYSIS, discovery occurrences) have no required fields.
NOTE_CHECKS: dict[str, Check] = {
    "VULNERABILITY": _vulnerability_note,
    "BUILD": _build_note,
    "IMAGE": _image_note,
    "PACKAGE": _package_note,
    "DEPLOYMENT": _deployment_note,
    "DISCOVERY": _discovery_note,
    "ATTESTATION": _attestation_note,
    "UPGRADE": _upgrade_note,
    "DSSE_ATTESTATION": _attestation_note,
}

OCCURRENCE_CHECKS: dict[str, Check] = {
    "VULNERABILITY": _vulnerability_occurrence,
    "BUILD": _build_occurrence,
    "IMAGE": _image_occurrence,
    "PACKAGE": _package_occurrence,
    "DEPLOYMENT": _deployment_occurrence,
    "ATTESTATION": _attestation_occurrence,
    "UPGRADE": _upgrade_occurrence,
    "DSSE_ATTESTATION": _dsse_occurrence,
    "SBOM_REFERENCE": _sbom_occurrence,
    "SECRET": _secret_occurrence,
}

assert set(NOTE_CHECKS) <= set(NOTE_TYPE_BY_KIND) and set(OCCURRENCE_CHECKS) <= set(OCCURRENCE_DETAILS_BY_KIND)


def _member(resource: dict, members: dict[str, str], checks: dict[str, Check], label: str) -> list[str]:
    """Require exactly one member of the type/details oneof and run that kind's checks on it."""
    found = [key for key in resource if key in members]  # a resource has fewer keys than there are kinds
    if not found:
        return [f"{label} required: set one of {', '.join(members)}"]
    if len(found) > 1:
        return [f"only one of {', '.join(member for member in members if member in resource)} may be set"]
    check = checks.get(members[found[0]])
    return check(resource[found[0]], found[0]) if check else []


def validate_note(note: dict) -> list[str]:
    """Problems with a canonical note, one string each; empty when it is valid."""
    return _member(note, KIND_BY_NOTE_TYPE, NOTE_CHECKS, "type is")


def odd_resource_uri(uri: str) -> bool:
    """Whether a resource URI holds control characters or begins or ends with a space: no artifact is named
    so, and the gate reads it as no artifact it resembles, so what is stored under it would never count."""
    return _CONTROL.search(uri) is not None or uri[:1].isspace() or uri[-1:].isspace()


def validate_occurrence(occurrence: dict) -> list[str]:
    """Problems with a canonical occurrence, one string each; empty when it is valid."""
    problems = _required(occurrence, "", "resourceUri", "noteName")
    uri = occurrence.get("resourceUri", "")
    if len(uri) > MAX_RESOURCE_URI_LENGTH:
        problems.append(f"resourceUri must be at most {MAX_RESOURCE_URI_LENGTH} characters")
    if odd_resource_uri(uri):
        problems.append(ODD_RESOURCE_URI)
    return problems + _member(occurrence, KIND_BY_OCCURRENCE_DETAILS, OCCURRENCE_CHECKS, "details are")
