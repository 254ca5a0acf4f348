"""Artifact resource URIs: which kind of artifact a URI names, and the sha256 digest that pins its content.

Four kinds:

- image: no scheme, `https://`/`http://`, or an image transport's `docker://`/`oci://` (skopeo, Helm,
  ORAS), and not a file (below). Pinned by a trailing `@sha256:<64 lowercase hex>`, as in
  `https://gcr.io/acme/app@sha256:...` (Grafeas's form for Docker images) or
  `gcr.io/acme/app:1.2@sha256:...`. Every scheme names the same image.
- file: a `file://` URI, or any URI whose path ends in `.jar`, `.war` or `.zip`. Pinned either by
  Grafeas's generic-file form `file://sha256:<hex>:<name>`, or by a `#sha256=<hex>` fragment, as pip
  and PEP 503 pin download URLs: `https://repo.example.com/app-1.2.jar#sha256=<hex>`.
- package: Grafeas's package coordinates (`deb://`, `gav://`, `npm://`, `nuget://`, `pip://`,
  `rpm://`), versioned names that cannot carry a digest.
- unknown: any other scheme. The gate cannot tell what it names, so it pins nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

FILE_SUFFIXES = (".jar", ".war", ".zip")
# Schemes before an image reference; each is left off for the artifact's key, so all name one image.
IMAGE_SCHEMES = frozenset({"http", "https", "docker", "oci"})
PACKAGE_SCHEMES = frozenset({"deb", "gav", "npm", "nuget", "pip", "rpm"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACE = re.compile(r"\s")
_GRAFEAS_FILE = re.compile(r"sha256:([0-9a-f]{64}):(.+)", re.DOTALL)


@dataclass(frozen=True)
class Artifact:
    """What the gate knows about an artifact from its URI alone."""

    uri: str
    kind: str  # "image" | "file" | "package" | "unknown"
    digest: str | None  # lowercase hex sha256, None when the URI does not pin one
    digest_problem: str | None = None  # why a digest-like suffix is not a valid sha256 digest


def parse_artifact(uri: str) -> Artifact:
    """Classify a resource URI and extract its sha256 digest."""
    scheme, rest, kind = _classified(uri)
    if kind == "file":
        return _file(uri, scheme, rest)
    if kind == "image":
        return _image(uri, rest)
    return Artifact(uri, kind, None)


def artifact_kind(uri: str) -> str:
    """`parse_artifact(uri).kind`, without looking for a digest."""
    return _classified(uri)[2]


def _classified(uri: str) -> tuple[str, str, str]:
    """(scheme in lower case or "", the rest, the kind of artifact) of a resource URI."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "", uri
    scheme = scheme.lower()
    path = rest.split("#", 1)[0].split("?", 1)[0]
    if scheme == "file" or path.lower().endswith(FILE_SUFFIXES):
        return scheme, rest, "file"
    if not scheme or scheme in IMAGE_SCHEMES:
        return scheme, rest, "image"
    return scheme, rest, "package" if scheme in PACKAGE_SCHEMES else "unknown"


def artifact_digest(uri: str) -> str | None:
    """The lowercase hex sha256 digest a resource URI pins, or None."""
    return parse_artifact(uri).digest


# Docker Hub's other names; runtimes pull `nginx`, `docker.io/nginx` and these alike.
_DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


def _names_registry(host: str) -> bool:
    """Whether the first segment of an image reference is a registry host (else the image is on Docker Hub):
    Docker's rule, under which a segment in capitals (`LOCALHOST/app`) is a host too, since a repository
    path is lower case."""
    return "." in host or ":" in host or host == "localhost" or host != host.lower()


def image_reference(reference: str) -> str:
    """An image reference as a runtime pulls it: registry host in lower case, its port without leading
    zeros and without the default HTTPS port, Docker Hub under one name (`nginx` is
    `docker.io/library/nginx`), and no tag beside a digest (the digest is what runs)."""
    name, at, digest = reference.partition("@")
    host, slash, path = name.partition("/")
    if not slash or not _names_registry(host):
        host, path = _DOCKER_HUB, name  # no registry named: Docker Hub
    host = _plain_host_port(host.lower())
    # A runtime pulls `gcr.io:443/app` from `gcr.io/app`; kept, the port let the image slip past
    # `gcr.io/**` patterns and away from the occurrences stored for it. A host that would then read
    # as a Docker Hub path (`myhost:443/app` is not `docker.io/myhost/app`) keeps its port.
    if host.endswith(":443") and _names_registry(host.removesuffix(":443")):
        host = host.removesuffix(":443")
    if host in _DOCKER_HUB_ALIASES:
        host = _DOCKER_HUB
    if host == _DOCKER_HUB and "/" not in path:
        path = "library/" + path
    name = f"{host}/{path}"
    if not at:
        return name
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    return f"{name}@{digest}"


def _without_image_scheme(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    return rest if sep and scheme.lower() in IMAGE_SCHEMES else uri


def artifact_key(uri: str) -> str:
    """What every resource URI naming the same artifact shares: `https://X` and `X` are one artifact
    (the Kritis convention), as are `docker://X` and `oci://X`, and an image is named by
    `image_reference` in the form patterns see it (`canonical_artifact`: escaped unreserved characters
    decoded, runs of `/` as one, dot segments resolved, no trailing dot on the host, `:80` after
    `http://` left out), so that the gate finds a finding whichever of them it was stored or is asked
    under. Other URIs stand as written."""
    bare = _without_image_scheme(uri)
    if artifact_kind(uri) == "image":
        return _normal_reference(image_reference(bare), http=uri[:7].lower() == "http://")
    return bare


# What `_normal_url` may change in an image reference beyond its host; one without any is normal already.
_UNNORMAL_MARKS = ("%", "//", "/.", "\\", "?", "#")


def _normal_reference(reference: str, http: bool) -> str:
    """`image_reference`'s result as `_normal_url` gives it (without `https://`), `:80` left out after `http://`."""
    host = reference.partition("/")[0]
    host_changes = http or host.endswith(".") or ":" in host or "@" in host
    if not host_changes and not any(mark in reference for mark in _UNNORMAL_MARKS):
        return reference  # the common case: most stored URIs are normal, and parsing them again is a cost
    return _normal_url("https", reference, (443, 80) if http else (443,)).uri.removeprefix("https://")


@functools.lru_cache(maxsize=1024)  # a batch of a scan's findings names one artifact a thousand times
def stored_artifact_key(uri: str) -> str | None:
    """The `artifact_key` an occurrence, its history rows and a decision stored under `uri` keep beside it,
    for the gate and the artifact timeline to find them by: None when `uri` is the key or `https://` + key,
    spellings they look up anyway. A change to `artifact_key`'s rule needs a migration that computes the
    keys stored in occurrences, history and decisions again."""
    key = artifact_key(uri)
    return None if uri in (key, "https://" + key) else key


class Canonical(NamedTuple):
    """An artifact URI as policies' patterns and exemptions see it (`canonical_artifact`)."""

    uri: str
    # False where the URI may name something else than its canonical form says: a `.` or `..` segment
    # (however encoded, or before a `;`), a backslash, an encoded `/`, `\\` or `%`, or user info before the
    # host. What it names then depends on who resolves it, so no allow pattern or exemption may hold for it.
    # A deny pattern still may.
    safe: bool


def canonical_artifact(uri: str) -> Canonical:
    """The one spelling of an artifact's URI that policies' allow patterns, deny patterns and exemptions are
    matched against (patterns are brought to the same form by `canonical_pattern`), and whether it is safe
    to allow or exempt by pattern (see `Canonical`).

    An image is `https://` + `image_reference`, with `:latest` where it names neither tag nor digest (what a
    runtime pulls, so that a `**:latest` pattern holds for it). Every URL, an image's too, has its scheme and
    host in lower case, no default port (`:443`, `:0443`; `:80` after `http://`), percent-encoded unreserved
    characters decoded (`%65` is `e`), runs of `/` as one and dot segments resolved. A file written with
    `http://`, `docker://`, `oci://` or no scheme is `https://` like an image. A package coordinate is
    written one way only, so stands as written but for its scheme's case."""
    artifact = parse_artifact(uri)
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower() if sep else ""
    if artifact.kind == "image":
        url = _normal_url("https", artifact_key(uri), (443,), user_info_safe=False)
        # The key has resolved what makes a URI unsafe (a backslash read as `/`, a dot segment): whether it did
        # is asked of the reference as written, or `gcr.io/acme\\x` was allowed by `gcr.io/acme/**`.
        ports = (443, 80) if uri[:7].lower() == "http://" else (443,)
        written = _normal_url("https", image_reference(_without_image_scheme(uri)), ports, user_info_safe=False)
        canonical = url.uri + ":latest" if _untagged(url.uri.removeprefix("https://")) else url.uri
        return Canonical(canonical, url.safe and written.safe)
    if not sep:
        rest = uri
    if artifact.kind == "package":
        return Canonical(f"{scheme}://{rest}", not _walks(rest))
    if scheme == "file":  # `file://sha256:<hex>:<name>` has no host to speak of
        url = _normal_url("", rest, ())
        return Canonical("file://" + url.uri, url.safe)
    if artifact.kind == "file" and (not scheme or scheme in IMAGE_SCHEMES):
        return _normal_url("https", rest, (443, 80) if scheme == "http" else (443,), user_info_safe=False)
    return _normal_url(scheme, rest, (), user_info_safe=False)


def _plain_host_port(host: str) -> str:
    """A registry host with its port without leading zeros, as a runtime dials it: `gcr.io:0443` -> `gcr.io:443`."""
    name, colon, port = host.rpartition(":")
    if colon and port.isascii() and port.isdigit():
        return f"{name}:{port.lstrip('0') or '0'}"
    return host


def canonical_uri(uri: str) -> str:
    """`canonical_artifact(uri).uri`."""
    return canonical_artifact(uri).uri


def canonical_pattern(text: str) -> str:
    """An artifact pattern in the form `canonical_artifact` gives URIs, so that it matches every spelling of
    what it names: `docker://`, `oci://` and `http://` are `https://`, the host in lower case without a
    default port (and Docker Hub's other names `docker.io`), unreserved characters decoded, runs of `/` as
    one. A pattern without a scheme stays
    without one (it matches the URI without its `https://`). Dot segments are left as written: no
    canonical URI holds one."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower() if sep else ""
    if sep and scheme in PACKAGE_SCHEMES:
        return f"{scheme}://{rest}"
    if sep and scheme == "file":
        return "file://" + _normal_url("", rest, (), resolve=False).uri
    name = rest if sep else text
    if not sep or scheme in IMAGE_SCHEMES:
        if artifact_kind(f"https://{name}") == "image":
            name = _on_docker_hub(name)
        if "/" not in name:  # `**:latest`, `*.jar`: no host to speak of
            return f"https://{name}" if sep else text
        canonical = _normal_url("https", name, (443, 80) if scheme == "http" else (443,), resolve=False)
        host, slash, path = canonical.uri.removeprefix("https://").partition("/")
        if host in _DOCKER_HUB_ALIASES and slash:  # Docker Hub under the one name images have here
            host = _DOCKER_HUB
        if host == _DOCKER_HUB and slash and "/" not in path and "**" not in path:
            path = "library/" + path  # `docker.io/nginx@*` is `docker.io/library/nginx@*`, as images are
        return f"https://{host}{slash}{path}" if sep else f"{host}{slash}{path}"
    return _normal_url(scheme, rest, (), resolve=False).uri


def _on_docker_hub(name: str) -> str:
    """An image pattern with Docker's rule for a first segment that names no registry host (`image_reference`):
    `nginx@*` is `docker.io/library/nginx@*`, `acme/app:*` `docker.io/acme/app:*`. A pattern whose first segment
    holds a wildcard (`**:latest`, `*/app@*`) may mean any registry and stands as written."""
    first, slash, _ = name.partition("/")
    repository = first if slash else re.split(r"[@:]", first, maxsplit=1)[0]
    if "*" in repository or (slash and _names_registry(first)):
        return name
    return f"{_DOCKER_HUB}/{name}"


def canonical_source(uri: str) -> Canonical:
    """A source URI (a git URL, a Gerrit project) in the form `canonical_artifact` gives URLs: the scheme and
    host in lower case without a default port, unreserved characters decoded, runs of `/` as one and dot
    segments resolved (git resolves `https://github.com/acme/../attacker/repo` as `attacker/repo`). The
    scheme stays, and so does user info (`ssh://git@github.com/...`). Without a scheme (`github.com/acme/app`,
    `git@github.com:acme/app`) the first segment stands as written."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return _normal_url("", uri, (), user_info_safe=True)
    ports = {"https": (443,), "http": (80,), "ssh": (22,), "git": (9418,)}.get(scheme.lower(), ())
    return _normal_url(scheme.lower(), rest, ports, user_info_safe=True)


def canonical_source_pattern(text: str) -> str:
    """A `sourceUris` pattern in the form `canonical_source` gives source URIs."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _normal_url("", text, (), resolve=False).uri
    ports = {"https": (443,), "http": (80,), "ssh": (22,), "git": (9418,)}.get(scheme.lower(), ())
    return _normal_url(scheme.lower(), rest, ports, resolve=False).uri


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# Encoded characters a server may decode before it resolves the path (`%2F`, `%5C`) or decode twice (`%25`).
_AMBIGUOUS = ("%2F", "%5C", "%25")


def _decode_unreserved(text: str) -> str:
    """RFC 3986 6.2.2: percent-encoded unreserved characters decoded, other escapes in upper-case hex."""

    def one(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(one, text)


def _normal_url(
    scheme: str, rest: str, default_ports: tuple[int, ...], *, user_info_safe: bool = True, resolve: bool = True
) -> Canonical:
    """`scheme://rest` normalised (see `canonical_artifact`); without a scheme, `rest` with its first segment,
    the host, left as written. `resolve` False (for a pattern) keeps backslashes and dot segments as written."""
    rest, hash_sign, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    safe = "\\" not in rest
    if resolve:
        rest = rest.replace("\\", "/")
    rest = _decode_unreserved(rest)
    safe = safe and not any(escape in rest for escape in _AMBIGUOUS)
    authority, slash, path = rest.partition("/")
    if scheme:
        if "@" in authority:
            safe = safe and user_info_safe
            user, _, authority = authority.rpartition("@")
            authority = f"{user}@{_normal_host(authority, default_ports)}" if user_info_safe else authority
        authority = _normal_host(authority, default_ports)
    segments = path.split("/")
    kept = [part for part in segments[:-1] if part] + segments[-1:]  # `a//b` is `a/b`; a trailing `/` stays
    if any(part.split(";", 1)[0] in (".", "..") for part in kept):
        safe = False
        if resolve:
            kept = _without_dot_segments(kept)
    text = authority + slash + "/".join(kept)
    text = f"{scheme}://{text}" if scheme else text
    return Canonical(text + question + query + hash_sign + fragment, safe)


def _normal_host(authority: str, default_ports: tuple[int, ...]) -> str:
    """`host[:port]` in lower case, without a default port, the port's leading zeros, or a trailing dot."""
    host, colon, port = authority.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit():
        host, port = authority, ""
    else:
        port = "" if int(port) in default_ports else str(int(port))
    host = host.lower()
    if host.endswith(".") and host.strip("."):
        host = host[:-1]
    return f"{host}:{port}" if port else host


def _without_dot_segments(segments: list[str]) -> list[str]:
    """RFC 3986 5.2.4 over path segments (`..;x` read as `..`, as Tomcat does); never above the root."""
    out: list[str] = []
    for index, part in enumerate(segments):
        core = part.split(";", 1)[0]
        last = index == len(segments) - 1
        if core == "..":
            if out:
                out.pop()
        elif core != ".":
            out.append(part)
            continue
        if last:
            out.append("")  # `a/b/..` is `a/`
    return out


def _walks(text: str) -> bool:
    """Whether a text holds a dot segment, plain or percent-encoded, or a backslash."""
    return _normal_url("", "/" + text, ()).safe is False


def _untagged(reference: str) -> bool:
    """Whether an image reference names neither a tag nor a digest (a port in its host is no tag)."""
    return "@" not in reference and ":" not in reference.rsplit("/", 1)[-1]


def latest_twin(uri: str) -> str | None:
    """The other spelling of an image a runtime pulls as `:latest`: `X:latest` for an untagged `X`, and `X`
    for `X:latest`, so that the gate reads the occurrences stored under either; None for anything else."""
    if artifact_kind(uri) != "image":
        return None
    key = artifact_key(uri)
    if _untagged(key):
        return "https://" + key + ":latest"
    if key.endswith(":latest") and "@" not in key:
        return "https://" + key.removesuffix(":latest")
    return None


def resource_spellings(uri: str) -> list[str]:
    """The resource URIs an artifact's occurrences may be stored under, for an exact lookup of each:
    as written, with and without `https://`, and its image reference (tag dropped beside a digest,
    registry host in lower case and without `:443`, Docker Hub's aliases) with and without `https://`."""
    bare = _without_image_scheme(uri)
    if bare == uri and "://" in uri:  # another scheme (file://, deb://, ...): written one way only
        return [uri]
    key = artifact_key(uri)
    return list(dict.fromkeys([uri, bare, "https://" + bare, key, "https://" + key]))


class Lookup(NamedTuple):
    """Where what is about one artifact may be stored: under any of `uris`, or with any of `keys`."""

    uris: list[str]
    keys: list[str]


def artifact_lookup(uri: str) -> Lookup:
    """The URIs and artifact keys the gate and the artifact timeline read as the artifact `uri` names:
    every spelling of it, and for an image pulled as `:latest`, every spelling of its twin (`X` and
    `X:latest` run the same)."""
    named = [uri, *filter(None, [latest_twin(uri)])]
    uris = dict.fromkeys(spelling for one in named for spelling in resource_spellings(one))
    return Lookup(list(uris), list(dict.fromkeys(map(artifact_key, named))))


def same_resource(a: str, b: str) -> bool:
    """Whether two resource URIs name the same artifact (see `artifact_key`); an image named without a tag
    is the one named `:latest`, which is what runs."""
    return a == b or _pulled(a) == _pulled(b)


def _pulled(uri: str) -> str:
    """`artifact_key`, with `:latest` for an image that names neither tag nor digest: what a runtime pulls."""
    key = artifact_key(uri)
    return key + ":latest" if artifact_kind(uri) == "image" and _untagged(key) else key


def _image(uri: str, rest: str) -> Artifact:
    # No runtime pulls a reference with a space or a second `@` in it, and the gate would look up what is
    # stored under one spelling while the digest after its last `@` bound another: judged on nothing found,
    # `gcr.io/acme/app@sha256:<other>@sha256:<vulnerable>` passed the vulnerability rules and a signature on
    # the vulnerable digest alone.
    if _SPACE.search(rest):
        return Artifact(uri, "image", None, "an image reference holds no spaces")
    name, at, reference = rest.rpartition("@")
    if "@" in name or (at and "/" in reference):
        return Artifact(uri, "image", None, "an image reference holds one '@' at most, before its digest")
    if not at:
        return Artifact(uri, "image", None)
    algorithm, _, value = reference.partition(":")
    if algorithm == "sha256" and _HEX64.fullmatch(value):
        return Artifact(uri, "image", value)
    return Artifact(uri, "image", None, f"'@{reference}' is not a sha256 digest (sha256: and 64 lowercase hex digits)")


def _file(uri: str, scheme: str, rest: str) -> Artifact:
    if scheme == "file":
        match = _GRAFEAS_FILE.fullmatch(rest)
        if match:
            return Artifact(uri, "file", match.group(1))
        if rest.startswith("sha256:"):
            return Artifact(uri, "file", None, "expected file://sha256:<64 lowercase hex digits>:<name>")
    _, hash_sign, fragment = rest.partition("#")
    if not hash_sign:
        return Artifact(uri, "file", None)
    algorithm, _, value = fragment.partition("=")
    if algorithm == "sha256" and _HEX64.fullmatch(value):
        return Artifact(uri, "file", value)
    return Artifact(uri, "file", None, f"'#{fragment}' is not a sha256 digest (#sha256= and 64 lowercase hex digits)")
