"""The rules that read an artifact's URI and its unsigned occurrences: identity, deny patterns, scan freshness,
provenance, compliance, exposed secrets, packages and licences."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

from .artifacts import artifact_digest, canonical_source, canonical_uri
from .context import Context, Finding, canonical_note_name, malformed
from .licences import denies, expression_licences
from .model import ArtifactRule, ComplianceRule, IdentityRule, PackageRule, ProvenanceRule, ScanRule, SecretRule
from .occurrences import Malformed, get, get_list, get_time
from .patterns import Pattern, any_match, compile_pattern
from .timeutil import format_duration, format_timestamp
from .vulnerability_checks import version_text

SCAN_SUCCEEDED = ("FINISHED_SUCCESS", "COMPLETE")  # COMPLETE is the proto's alias of FINISHED_SUCCESS


def check_identity(rule: IdentityRule, ctx: Context) -> list[Finding]:
    artifact = ctx.artifact
    if artifact.kind == "package" or artifact.digest is not None:
        return []
    if artifact.kind == "unknown":  # judged as nothing, it would pass every rule that finds no occurrence
        return [
            Finding(
                "DIGEST_MISSING",
                f"{artifact.uri}: the gate does not know its scheme, so cannot tell what would run; name an image "
                "as https://<registry>/<repository>@sha256:<digest> (docker:// and oci:// read the same), a file "
                "as <url>#sha256=<digest> or file://sha256:<digest>:<name>, or a package as deb://, gav://, npm://, "
                "nuget://, pip:// or rpm://",
            )
        ]
    if artifact.digest_problem:
        return [Finding("DIGEST_INVALID", f"{artifact.uri}: {artifact.digest_problem}")]
    if artifact.kind == "image":
        if rule.allow_tags:
            return []
        return [
            Finding(
                "TAG_NOT_DIGEST",
                f"{artifact.uri} is referenced by tag, not by digest; deploy it as {image_name(artifact.uri)}"
                "@sha256:<digest> so that the gate judges the exact image that will run",
            )
        ]
    return [
        Finding(
            "DIGEST_MISSING",
            f"{artifact.uri} carries no sha256 digest; reference it as {artifact.uri.split('#')[0]}#sha256=<64 hex "
            "digits>, or as file://sha256:<64 hex digits>:<name>, so that the gate judges the exact file that will run",
        )
    ]


def image_name(uri: str) -> str:
    """An image reference without its tag: `gcr.io/acme/app:1.2` -> `gcr.io/acme/app`."""
    name = uri.split("@", 1)[0]
    last_colon = name.rfind(":")
    return name[:last_colon] if last_colon > name.rfind("/") else name


def deny_pattern_of(rule: ArtifactRule, uri: str) -> Pattern | None:
    """The deny pattern matching the URI in canonical form (`canonical_uri`; the pattern too), or as written
    (the pattern too), whichever the URI's spelling."""
    canonical = canonical_uri(uri)
    return next((p for p in rule.deny_patterns if p.matches(canonical) or p.matches_as_written(uri)), None)


def check_deny_patterns(rule: ArtifactRule, ctx: Context) -> list[Finding]:
    pattern = deny_pattern_of(rule, ctx.uri)
    if pattern is None:
        return []
    return [Finding("ARTIFACT_DENIED", f"{ctx.uri} matches the deny pattern {pattern.text!r} and may not be deployed")]


# How far ahead of this server's clock a scanner's may run before its times are not believed.
CLOCK_SKEW = timedelta(minutes=5)


def check_scan(rule: ScanRule, ctx: Context) -> list[Finding]:
    """A DISCOVERY occurrence that finished successfully within maxAge; never scanned is not clean."""
    newest = None
    unfinished: list[tuple[str, str]] = []
    other_analyses: list[tuple[str, str]] = []
    problems = []
    for occurrence in ctx.of_kind("DISCOVERY"):
        analysis = _analysis_kind(occurrence, ctx)
        if analysis not in (None, "VULNERABILITY"):  # an SBOM's or a build's discovery scanned no vulnerability
            other_analyses.append((analysis, occurrence["name"]))
            continue
        try:
            status = get(occurrence, "discovery.analysisStatus", str, "ANALYSIS_STATUS_UNSPECIFIED")
            if status not in SCAN_SUCCEEDED:
                unfinished.append((status, occurrence["name"]))
                continue
            scanned = (
                get_time(occurrence, "discovery.lastScanTime")
                or get_time(occurrence, "updateTime")
                or get_time(occurrence, "createTime")
            )
        except Malformed as error:
            problems.append(malformed(occurrence, error, "it does not show a scan"))
            continue
        if scanned is not None and scanned > ctx.now + CLOCK_SKEW:  # would count as fresh for ever
            error = Malformed(f"its scan time {format_timestamp(scanned)} is in the future")
            problems.append(malformed(occurrence, error, "it does not show a scan"))
            continue
        if scanned is not None and (newest is None or scanned > newest[0]):
            newest = (scanned, occurrence["name"])
    if newest is not None and ctx.now - newest[0] <= rule.max_age:
        return []
    if newest is not None:
        age = format_duration(ctx.now - newest[0])
        message = (
            f"the newest successful vulnerability scan of {ctx.uri} is {age} old ({format_timestamp(newest[0])}), "
            f"older than the maximum {format_duration(rule.max_age)}; rescan the artifact"
        )
        return [Finding("SCAN_STALE", message, (newest[1],)), *problems]
    if unfinished:
        statuses = ", ".join(sorted({status for status, _ in unfinished}))
        message = (
            f"{ctx.uri} has no successful vulnerability scan (scan status: {statuses}); never scanned is not clean"
        )
        return [Finding("NOT_SCANNED", message, tuple(name for _, name in unfinished)), *problems]
    if problems:
        return [Finding("NOT_SCANNED", f"{ctx.uri} has no readable vulnerability scan"), *problems]
    if other_analyses:
        kinds = ", ".join(sorted({kind for kind, _ in other_analyses}))
        message = (
            f"{ctx.uri} has never been scanned for vulnerabilities: its DISCOVERY occurrences are on notes of "
            f"other analyses ({kinds}); never scanned is not clean"
        )
        return [Finding("NOT_SCANNED", message, tuple(name for _, name in other_analyses))]
    message = f"{ctx.uri} has never been scanned for vulnerabilities (no DISCOVERY occurrence)"
    return [Finding("NOT_SCANNED", message + "; never scanned is not clean")]


def _analysis_kind(occurrence: dict, ctx: Context) -> str | None:
    """The analysis a DISCOVERY occurrence's note says it records (`discovery.analysisKind`), or None when
    the note says none or was not read (deleted, or no notes given)."""
    note = (ctx.notes or {}).get(canonical_note_name(occurrence.get("noteName")))
    discovery = note.get("discovery") if isinstance(note, dict) else None
    kind = discovery.get("analysisKind") if isinstance(discovery, dict) else None
    return kind if isinstance(kind, str) and kind != "NOTE_KIND_UNSPECIFIED" else None


def check_provenance(rule: ProvenanceRule, ctx: Context) -> list[Finding]:
    """A BUILD occurrence whose builder and source both match the policy's patterns."""
    builds = ctx.of_kind("BUILD")
    if not builds:
        return [Finding("PROVENANCE_MISSING", f"{ctx.uri} has no build provenance (no BUILD occurrence)")]
    builders_seen: set[str] = set()
    sources_seen: set[str] = set()
    trusted_builder = False
    problems = []
    elsewhere: dict[str, set[str]] = {}  # builds of other artifacts, by occurrence: the digests they built
    for occurrence in builds:
        try:
            builders, sources = builder_ids(occurrence), source_uris(occurrence)
            built = built_digests(occurrence)
        except Malformed as error:
            problems.append(malformed(occurrence, error, "it cannot show a trusted build"))
            continue
        if built and f"sha256:{ctx.artifact.digest}" not in built:  # provenance of another artifact posted here
            elsewhere[occurrence["name"]] = built
            continue
        builder_ok = not rule.builder_ids or any(any_match(rule.builder_ids, b) for b in builders)
        source_ok = not rule.source_uris or any(_source_matches(rule.source_uris, s) for s in sources)
        if builder_ok and source_ok:
            return []
        builders_seen.update(builders)
        if builder_ok:
            trusted_builder = True
            sources_seen.update(sources)
    evidence = tuple(occurrence["name"] for occurrence in builds)
    if elsewhere and not builders_seen:
        found = ", ".join(sorted(set().union(*elsewhere.values())))
        pinned = f"sha256:{ctx.artifact.digest}" if ctx.artifact.digest else "no digest"
        message = f"the build provenance on {ctx.uri} is for {found}, not for this artifact ({pinned})"
        return [Finding("SUBJECT_MISMATCH", message, tuple(elsewhere)), *problems]
    if problems and not builders_seen and not sources_seen:
        return problems
    if not trusted_builder:
        message = (
            f"no build of {ctx.uri} comes from a trusted builder: found {_listed(builders_seen)}; "
            f"trusted: {_listed(p.text for p in rule.builder_ids)}"
        )
        return [Finding("BUILDER_UNTRUSTED", message, evidence), *problems]
    message = (
        f"no build of {ctx.uri} by a trusted builder comes from a trusted source: found {_listed(sources_seen)}; "
        f"trusted: {_listed(p.text for p in rule.source_uris)}"
    )
    return [Finding("SOURCE_UNTRUSTED", message, evidence), *problems]


_BUILDER_PATHS = (
    "build.provenance.builderVersion",
    "build.inTotoSlsaProvenanceV1.predicate.runDetails.builder.id",
    "build.intotoStatement.slsaProvenance.builder.id",
    "build.intotoStatement.slsaProvenanceZeroTwo.builder.id",
    "build.intotoStatement.provenance.builderConfig.id",
    "build.intotoProvenance.builderConfig.id",
)


def built_digests(occurrence: dict) -> set[str]:
    """The digests (`sha256:<hex>`, lowercase) a BUILD occurrence says it built: its in-toto subjects and
    its built artifacts; empty when it names none, and then it is about the occurrence's resource.

    A subject named by other algorithms only (npm's provenance gives sha512) stands as the first of
    them: it names what was built, and no sha256 of it can be this artifact's."""
    found = set()
    for path in ("build.inTotoSlsaProvenanceV1.subject", "build.intotoStatement.subject"):
        for item in get_list(occurrence, path):
            digests = {str(k).lower(): v for k, v in get(item, "digest", dict, {}).items() if isinstance(v, str) and v}
            algorithm = "sha256" if "sha256" in digests else min(digests, default="")
            if algorithm:
                found.add(f"{algorithm}:{digests[algorithm].lower()}")
    for artifact in get_list(occurrence, "build.provenance.builtArtifacts"):
        checksum = get(artifact, "checksum", str, "").lower()
        if checksum.startswith("sha256:"):
            found.add(checksum)
        found.update(f"sha256:{digest}" for digest in filter(None, [artifact_digest(get(artifact, "id", str, ""))]))
    return found


def builder_ids(occurrence: dict) -> list[str]:
    """Every builder identity a BUILD occurrence names, across the provenance formats Grafeas stores."""
    return [value for path in _BUILDER_PATHS if (value := get(occurrence, path, str))]


def source_uris(occurrence: dict) -> list[str]:
    """Every source and material URI a BUILD occurrence names, with `git+` prefixes dropped."""
    build = get(occurrence, "build", dict, {})
    found = []
    provenance = get(build, "provenance.sourceProvenance", dict, {})
    contexts = [get(provenance, "context", dict, {}), *get_list(provenance, "additionalContexts")]
    for context in contexts:
        found.append(get(context, "git.url", str))
        host, project = get(context, "gerrit.hostUri", str), get(context, "gerrit.gerritProject", str)
        if host and project:
            found.append(f"{host.rstrip('/')}/{project}")
    found.append(get(provenance, "artifactStorageSourceUri", str))
    v1 = "inTotoSlsaProvenanceV1.predicate.buildDefinition.resolvedDependencies"
    found.extend(get(item, "uri", str) for item in get_list(build, v1))
    statement = get(build, "intotoStatement", dict, {})
    found.append(get(statement, "slsaProvenanceZeroTwo.invocation.configSource.uri", str))
    for path in ("slsaProvenanceZeroTwo.materials", "slsaProvenance.materials"):
        found.extend(get(item, "uri", str) for item in get_list(statement, path))
    found.extend(get_list(statement, "provenance.materials", str))
    found.extend(get_list(build, "intotoProvenance.materials", str))
    return [uri.removeprefix("git+") for uri in found if uri]


def _source_matches(patterns: tuple[Pattern, ...], uri: str) -> bool:
    """Whether a source matches, in canonical form (`canonical_source`; the patterns are too). One whose path
    may walk elsewhere (`https://github.com/acme/../attacker/repo`, which git fetches from `attacker/repo`)
    matches none."""
    canonical, safe = canonical_source(uri)
    if not safe:
        return False
    # A source pinned to a revision (`https://github.com/acme/app@refs/heads/main`) matches patterns for the repo.
    return any_match(patterns, canonical) is not None or any_match(patterns, canonical.rsplit("@", 1)[0]) is not None


def check_compliance(rule: ComplianceRule, ctx: Context) -> list[Finding]:
    findings = []
    for note_name in rule.note_names:
        unusable = _not_a_compliance_note(note_name, ctx)
        if unusable:
            # A warning, not a denial: scanners create a check's note the first time the check fails
            # (Trivy's), so a rule may rightly name one that does not exist yet. A misspelt name,
            # though, would pass every artifact unseen.
            message = (
                f"the compliance rule's note {note_name} {unusable}: no artifact can be found non-compliant with it"
            )
            findings.append(Finding("COMPLIANCE_NOTE_MISSING", message, advisory=True))
        for occurrence in ctx.of_kind("COMPLIANCE", note_name=note_name):
            try:
                files = get_list(occurrence, "compliance.nonCompliantFiles")
                reason = get(occurrence, "compliance.nonComplianceReason", str, "")
                paths = [get(item, "path", str, "") for item in files]
            except Malformed as error:
                findings.append(malformed(occurrence, error, "the gate cannot tell whether the artifact complies"))
                continue
            if not files and not reason:
                continue
            detail = f": {reason}" if reason else ""
            if paths:
                shown = ", ".join(path for path in paths[:3] if path) or "unnamed files"
                detail += f" ({len(paths)} non-compliant file{'s' if len(paths) > 1 else ''}: {shown})"
            message = f"{ctx.uri} does not comply with {note_name}{detail}"
            findings.append(Finding("NON_COMPLIANT", message, (occurrence["name"],)))
    return findings


def _not_a_compliance_note(note_name: str, ctx: Context) -> str:
    """Why no COMPLIANCE occurrence can be on the note (it does not exist, or is of another kind); "" when one
    can, or when the caller gave no notes."""
    if ctx.notes is None:
        return ""
    note = ctx.notes.get(note_name)
    if note is None:
        return "does not exist (misspelt, or a check that has never failed yet)"
    kind = note.get("kind")
    return "" if kind == "COMPLIANCE" else f"is a {kind} note, not a COMPLIANCE note"


def check_secrets(rule: SecretRule, ctx: Context) -> list[Finding]:
    """Every SECRET occurrence is a finding, unless its kind is one the rule allows."""
    findings = []
    for occurrence in ctx.of_kind("SECRET"):
        try:
            kind = get(occurrence, "secret.kind", str, "SECRET_KIND_UNSPECIFIED")
            places = [_file_place(item) for item in get_list(occurrence, "secret.locations")]
        except Malformed as error:
            findings.append(malformed(occurrence, error, "the gate cannot tell which secret it is"))
            continue
        if kind in rule.allow_kinds:
            continue
        shown = ", ".join(place for place in places[:3] if place) or "an unnamed place"
        more = f" and {len(places) - 3} more" if len(places) > 3 else ""
        message = f"{ctx.uri} exposes a secret ({kind}) in {shown}{more}; remove it from the artifact and revoke it"
        findings.append(Finding("SECRET_EXPOSED", message, (occurrence["name"],)))
    return findings


def _file_place(location: dict) -> str:
    """`path:line` of a SecretLocation's file, or "" when it names none."""
    path = get(location, "fileLocation.filePath", str, "")
    line = get(location, "fileLocation.lineNumber", int, 0)
    return f"{path}:{line}" if path and line else path


def check_packages(rule: PackageRule, ctx: Context) -> list[Finding]:
    findings = []
    for occurrence in ctx.of_kind("PACKAGE"):
        try:
            name = get(occurrence, "package.name", str, "")
            versions = _package_versions(occurrence)
            expression = get(occurrence, "package.license.expression", str, "")
            declared_by = "" if expression or not rule.deny_licenses else _licensing_note(occurrence, ctx)
            if declared_by:
                expression = get(ctx.notes[declared_by], "package.license.expression", str, "")
        except Malformed as error:
            findings.append(malformed(occurrence, error, "the gate cannot tell which package it is"))
            continue
        evidence = (occurrence["name"],)
        for denied in rule.deny_packages:
            if not _names_package(denied.name, name):
                continue
            if not versions:  # a version it does not give may be a denied one: judged as one, as unknown severities are
                shown = f"{name} (no version given)" if denied.versions else name
            elif denied.versions:
                shown = next((f"{name} {v}" for v in versions if any_match(denied.versions, v)), None)
                if shown is None:
                    continue
            else:
                shown = f"{name} {versions[0]}"
            denied_versions = ", ".join(p.text for p in denied.versions)
            pattern = f"{denied.name.text} {denied_versions}".rstrip()
            message = f"{ctx.uri} contains the package {shown}, which the policy denies ({pattern})"
            findings.append(Finding("PACKAGE_DENIED", message, evidence))
            break
        for licence in expression_licences(expression):
            if any(denies(denied, licence) for denied in rule.deny_licenses):
                what = name or "a package"
                source = f" (as its note {declared_by} declares)" if declared_by else ""
                message = (
                    f"{ctx.uri} contains {what} under the licence {licence.shown()}{source}, which the policy denies"
                )
                findings.append(Finding("LICENSE_DENIED", message, evidence + ((declared_by,) if declared_by else ())))
    return findings


def _licensing_note(occurrence: dict, ctx: Context) -> str:
    """The name of the PACKAGE note that declares the licences of an occurrence declaring none, as Grafeas's
    PackageNote may for every installation of its package; "" when there is none (or no notes were given)."""
    name = canonical_note_name(occurrence.get("noteName"))
    note = (ctx.notes or {}).get(name)
    if not isinstance(note, dict) or note.get("kind") != "PACKAGE":
        return ""
    return name if get(note, "package.license.expression", str, "") else ""


def _names_package(pattern: Pattern, name: str) -> bool:
    """Whether a deny pattern names the package: its whole name, or for a pattern without `/` or `:` the
    name's last part, so that `log4j-core` holds for Maven's `org.apache.logging.log4j/log4j-core` (as
    CycloneDX and purls write it) and `...:log4j-core` (as SPDX does) alike. A pattern with a group holds
    for both spellings too: `:` and `/` are compared as one separator."""
    if pattern.matches(name):
        return True
    if not re.search(r"[/:]", pattern.text):
        return pattern.matches(re.split(r"[/:]", name)[-1])
    return _slashed(pattern).matches(name.replace(":", "/"))


@lru_cache(maxsize=256)
def _slashed(pattern: Pattern) -> Pattern:
    """The pattern with each `:` read as `/` (a scheme's `://` left as it is)."""
    return compile_pattern(re.sub(r":(?!//)", "/", pattern.text))


def _package_versions(occurrence: dict) -> list[str]:
    """A PACKAGE occurrence's versions: `package.version`, else those of its locations (where Grafeas kept
    them before v1, and older writers still do)."""
    version = version_text(get(occurrence, "package.version", dict, {}))
    if version:
        return [version]
    locations = get_list(occurrence, "package.location")
    return list(dict.fromkeys(v for loc in locations if (v := version_text(get(loc, "version", dict, {})))))


def _listed(values) -> str:
    values = sorted(set(values))
    return ", ".join(values) if values else "none"
