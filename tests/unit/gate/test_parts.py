"""The gate's small parts: patterns, artifact digests, durations, timestamps, licence expressions."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from grafeas_py.errors import InvalidArgument
from grafeas_py.gate import artifact_digest, evaluate
from grafeas_py.gate.artifacts import (
    canonical_pattern,
    canonical_uri,
    parse_artifact,
    resource_spellings,
    same_resource,
)
from grafeas_py.gate.checks import image_name
from grafeas_py.gate.licences import current_id, denied_licence, denies, expression_licences
from grafeas_py.gate.patterns import compile_pattern
from grafeas_py.gate.purls import in_package
from grafeas_py.gate.timeutil import format_duration, parse_duration, parse_timestamp
from tests.unit.gate.builders import DIGEST, NOW, make_policy

HEX = DIGEST


@pytest.mark.parametrize(
    "pattern, value, matches",
    [
        ("gcr.io/acme/*", "gcr.io/acme/app@sha256:abc", True),
        ("gcr.io/acme/*", "gcr.io/acme/team/app", False),
        ("gcr.io/acme/**", "gcr.io/acme/team/app@sha256:abc", True),
        ("gcr.io/acme/**", "https://gcr.io/acme/team/app", True),
        ("https://gcr.io/acme/**", "gcr.io/acme/app", False),
        ("gcr.io/acme/app@*", "gcr.io/acme/app@sha256:abc", True),
        ("gcr.io/acme/app@*", "gcr.io/acme/app-evil@sha256:abc", False),
        ("gcr.io/acme/app", "gcr.io/acme/app:1", False),
        ("gcr.io/acme/app.+", "gcr.io/acme/app.+", True),
        ("gcr.io/acme/app.+", "gcr.io/acme/appXX", False),
        ("log4j-*", "log4j-core", True),
        ("2.1*", "2.14.1", True),
        ("2.1*", "2.2.0", False),
        ("**", "", True),
        ("gcr.io/acme/**", "HTTP://gcr.io/acme/app", True),
        ("gcr.io/acme/**", "evil://gcr.io/acme/app", False),  # only the web schemes are left out
    ],
)
def test_pattern(pattern, value, matches):
    assert compile_pattern(pattern).matches(value) is matches


def _as_regex(pattern: str) -> str:
    """The glob as the regex it means, the reference the matcher is held to."""
    return "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
        for part in re.split(r"(\*\*|\*)", pattern)
    )


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "/", ".", "*", "**", "ab/"]), max_size=7)
    .map("".join)
    .filter(lambda p: "***" not in p),
    st.text(alphabet="ab/.\n", max_size=12),
)
def test_pattern_means_its_regex(pattern, value):
    assume(pattern)
    assert compile_pattern(pattern).matches(value) == bool(re.fullmatch(_as_regex(pattern), value, re.DOTALL))


@pytest.mark.parametrize(
    "uri, kind, digest",
    [
        (f"https://gcr.io/acme/app@sha256:{HEX}", "image", HEX),
        (f"gcr.io/acme/app:1.2@sha256:{HEX}", "image", HEX),
        (f"localhost:5000/app@sha256:{HEX}", "image", HEX),
        ("gcr.io/acme/app:1.2", "image", None),
        (f"gcr.io/acme/app@sha256:{HEX.upper()}", "image", None),
        (f"file://sha256:{HEX}:foo.jar", "file", HEX),
        (f"file://sha256:{HEX}:report.pdf", "file", HEX),
        (f"https://repo.example.com/app-1.2.jar#sha256={HEX}", "file", HEX),
        (f"repo.example.com/app.ZIP#sha256={HEX}", "file", HEX),
        ("https://repo.example.com/app.war", "file", None),
        (f"https://repo.example.com/app.jar?sha256={HEX}", "file", None),
        ("gav://org.apache:log4j-core:2.14.1", "package", None),
        ("deb://bookworm:amd64:openssl:3.0.1", "package", None),
        (f"docker://gcr.io/acme/app@sha256:{HEX}", "image", HEX),
        (f"Docker://gcr.io/acme/app@sha256:{HEX}", "image", HEX),
        (f"oci://gcr.io/acme/charts/app@sha256:{HEX}", "image", HEX),
        (f"htps://gcr.io/acme/app@sha256:{HEX}", "unknown", None),
        (f"s3://bucket/app@sha256:{HEX}", "unknown", None),
    ],
)
def test_artifact(uri, kind, digest):
    artifact = parse_artifact(uri)
    assert (artifact.kind, artifact.digest) == (kind, digest)
    assert artifact_digest(uri) == digest


D = "sha256:" + "d" * 64


_SAME_RESOURCE = [
    (f"https://gcr.io/a@{D}", f"gcr.io/a@{D}"),
    (f"http://gcr.io/a@{D}", f"gcr.io/a@{D}"),
    (f"HTTPS://GCR.IO/a@{D}", f"https://gcr.io/a@{D}"),
    (f"docker://gcr.io/a@{D}", f"https://gcr.io/a@{D}"),
    (f"oci://gcr.io/a@{D}", f"gcr.io/a@{D}"),
    ("docker://nginx:1.25", "https://docker.io/library/nginx:1.25"),
    (f"https://gcr.io/a:1.0@{D}", f"https://gcr.io/a@{D}"),  # the digest is what runs
    (f"https://index.docker.io/library/nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    (f"registry-1.docker.io/library/nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    (f"docker.io/nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    (f"nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    ("localhost:5000/app:1", "https://localhost:5000/app:1"),
    # A runtime pulls a registry's default HTTPS port and the registry alike.
    (f"https://gcr.io:443/a@{D}", f"https://gcr.io/a@{D}"),
    (f"GCR.IO:443/a:1.0@{D}", f"https://gcr.io/a@{D}"),
    (f"registry-1.docker.io:443/library/nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    (f"docker.io:443/nginx@{D}", f"https://docker.io/library/nginx@{D}"),
    ("localhost:443/app:1", "https://localhost/app:1"),
    # Leading zeros too: a runtime dials gcr.io:0443 as gcr.io:443.
    (f"https://gcr.io:0443/a@{D}", f"https://gcr.io/a@{D}"),
    ("registry.example.com:05000/app:1", "https://registry.example.com:5000/app:1"),
]


@pytest.mark.parametrize("a, b", _SAME_RESOURCE)
def test_same_resource(a, b):
    assert same_resource(a, b) and same_resource(b, a)
    assert b in resource_spellings(a)  # b is in canonical form: the gate's lookup of a finds what is stored at b


# A pattern keeps a tag beside a digest: `app:1.*@*` is not every digest of `app`.
@pytest.mark.parametrize("a, b", [(a, b) for a, b in _SAME_RESOURCE if ":1.0@" not in a])
def test_a_pattern_written_as_one_spelling_holds_for_every_other(a, b):
    """Patterns are brought to the form images are (Docker Hub's `library/` and host-less names included)."""
    for written, other in ((a, b), (b, a)):
        assert compile_pattern(written, canonical_pattern(written)).matches(canonical_uri(other)), (written, other)


@pytest.mark.parametrize(
    "pattern, canonical",
    [
        ("nginx@*", "docker.io/library/nginx@*"),
        ("docker.io/nginx:*", "docker.io/library/nginx:*"),
        ("index.docker.io/busybox@*", "docker.io/library/busybox@*"),
        ("acme/app@*", "docker.io/acme/app@*"),
        ("docker.io/*", "docker.io/library/*"),
        # A wildcard where the host would be may stand for any registry: as written.
        ("**:latest", "**:latest"),
        ("*/app@*", "*/app@*"),
        ("docker.io/**", "docker.io/**"),
        ("*.jar", "*.jar"),
        ("*:V1", "*:V1"),  # no host: a tag's case stays
        ("docker://*:latest", "https://*:latest"),
    ],
)
def test_image_patterns_follow_dockers_rule(pattern, canonical):
    assert canonical_pattern(pattern) == canonical


@pytest.mark.parametrize(
    "a, b",
    [
        (f"https://gcr.io/a@{D}", "https://gcr.io/a@sha256:" + "e" * 64),
        (f"https://gcr.io/a@{D}", f"https://gcr.io/b@{D}"),
        (f"https://gcr.io/Acme/a@{D}", f"https://gcr.io/acme/a@{D}"),  # only the host is case-blind
        ("https://gcr.io/a:1", "https://gcr.io/a:2"),
        (f"gcr.io:5000/a@{D}", f"gcr.io/a@{D}"),  # only :443 is the default port
        (f"myhost:443/a@{D}", f"docker.io/myhost/a@{D}"),  # without its port, myhost/a would be on Docker Hub
        (f"file://sha256:{'d' * 64}:a.jar", f"file://sha256:{'d' * 64}:b.jar"),
    ],
)
def test_not_the_same_resource(a, b):
    assert not same_resource(a, b) and not same_resource(b, a)


def test_resource_spellings_of_other_schemes_are_only_themselves():
    assert resource_spellings("deb://ubuntu/openssl") == ["deb://ubuntu/openssl"]
    assert resource_spellings("s3://bucket/app") == ["s3://bucket/app"]
    assert resource_spellings(f"file://sha256:{'d' * 64}:a.jar") == [f"file://sha256:{'d' * 64}:a.jar"]


@pytest.mark.parametrize(
    "uri, name",
    [("gcr.io/acme/app:1.0", "gcr.io/acme/app"), ("localhost:5000/app", "localhost:5000/app"), ("app", "app")],
)
def test_image_name(uri, name):
    assert image_name(uri) == name


@pytest.mark.parametrize(
    "text, duration",
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
    ],
)
def test_duration(text, duration):
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "h", "12", "1h1d", "-1h", "1.5h", "0d", "99999999999d"])
def test_bad_duration(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(timedelta(**kw)) for kw in ({"days": 2, "hours": 3}, {"minutes": 45}, {"seconds": 5})] == [
        "2d 3h",
        "45m",
        "0m",
    ]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-01-31T00:00:00Z", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T02:00:00+02:00", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T00:00:00.123456789Z", datetime(2026, 1, 31, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        (date(2026, 1, 31), datetime(2026, 1, 31, tzinfo=UTC)),
    ],
)
def test_timestamp(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31T00:00:00",
        "31/01/2026",
        "2026-01-31Tnoon",
        5,
        None,
        # In UTC these fall outside the years 1 to 9999: an OverflowError, which callers did not expect.
        "9999-12-31T23:59:59-23:00",
        "0001-01-01T00:00:00+01:00",
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=2))),
    ],
)
def test_bad_timestamp(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


@pytest.mark.parametrize(
    "expression, ids",
    [
        ("MIT", [("MIT", None)]),
        ("(MIT OR Apache-2.0) AND BSD-3-Clause", [("MIT", None), ("Apache-2.0", None), ("BSD-3-Clause", None)]),
        ("GPL-2.0-only WITH Classpath-exception-2.0", [("GPL-2.0-only", "Classpath-exception-2.0")]),
        ("mit or gpl-2.0+", [("MIT", None), ("GPL-2.0-or-later", None)]),
        # SPDX's deprecated ids read as their current ones
        (
            "GPL-2.0 OR AGPL-3.0 OR GPL-3.0+",
            [("GPL-2.0-only", None), ("AGPL-3.0-only", None), ("GPL-3.0-or-later", None)],
        ),
        ("GPL-2.0-with-classpath-exception", [("GPL-2.0-only", "Classpath-exception-2.0")]),
        ("GPL-2.0 WITH Classpath-exception-2.0", [("GPL-2.0-only", "Classpath-exception-2.0")]),
        ("LicenseRef-acme OR Apache-2.0+", [("LicenseRef-acme", None), ("Apache-2.0+", None)]),
        ("MIT WITH", [("MIT", None)]),
        ("", []),
    ],
)
def test_expression_licences(expression, ids):
    assert [(licence.id, licence.exception) for licence in expression_licences(expression)] == ids


@pytest.mark.parametrize(
    "licence, current",
    [
        ("GPL-2.0", "GPL-2.0-only"),
        ("gpl-2.0-only", "GPL-2.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),  # or later: not GPL-2.0-only
        ("GPL-2.0-or-later", "GPL-2.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("AGPL-3.0", "AGPL-3.0-only"),
        ("MPL-1.1+", "MPL-1.1+"),  # no -or-later id: the + stays
        ("NOASSERTION-x", "NOASSERTION-x"),
    ],
)
def test_current_id(licence, current):
    assert current_id(licence) == current


@pytest.mark.parametrize(
    "entry, expression, denied",
    [
        ("GPL-2.0-only", "GPL-2.0", True),
        ("GPL-2.0-only", "GPL-2.0+", False),
        ("GPL-2.0-or-later", "GPL-2.0+", True),
        ("AGPL-3.0", "AGPL-3.0-only", True),
        ("GPL-2.0-only", "GPL-2.0-with-classpath-exception", True),
        ("Classpath-exception-2.0", "GPL-2.0-with-classpath-exception", True),
        ("GPL-2.0-with-classpath-exception", "GPL-2.0-only WITH Classpath-exception-2.0", True),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-with-classpath-exception", True),
        ("GPL-2.0-only with classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0", True),
        ("GPL-2.0-with-classpath-exception", "GPL-2.0-only", False),  # the exception is part of what it denies
        ("GPL-2.0-only", "LGPL-2.0-only", False),
    ],
)
def test_denies(entry, expression, denied):
    assert any(denies(denied_licence(entry), licence) for licence in expression_licences(expression)) is denied


def test_a_licence_shows_its_spelling_and_current_id():
    assert [licence.shown() for licence in expression_licences("gpl-2.0-only OR GPL-2.0+")] == [
        "gpl-2.0-only",
        "GPL-2.0+ (GPL-2.0-or-later)",
    ]


@pytest.mark.parametrize("uri", ["", None])
def test_resource_uri_is_required(uri):
    with pytest.raises(InvalidArgument, match="resourceUri is required"):
        evaluate(make_policy({}), uri, [], NOW)


def test_an_rpm_purls_epoch_qualifier_is_part_of_its_version():
    """A VEX statement naming the package by its standard purl (the epoch a qualifier) cleared nothing."""
    purl = "pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1"
    location = "pkg:rpm/centos/openssl-libs?arch=x86_64&epoch=1"
    assert in_package(purl, location, "1:1.0.2k-16.el7")
    assert not in_package(purl, location, "1.0.2k-16.el7")  # without its epoch: epoch 0, another version
    assert in_package("pkg:rpm/centos/openssl-libs@1:1.0.2k-16.el7", location, "1:1.0.2k-16.el7")
    assert in_package("pkg:rpm/centos/openssl-libs@1.0.2k-16.el7", location, "1.0.2k-16.el7")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aZ09./:%@?#\\-_~", max_size=40), st.booleans())
def test_an_image_reference_is_normalised_alike_with_or_without_the_shortcut(written, http):
    """`_normal_reference` skips `_normal_url` for references with nothing it would change: never a difference."""
    from grafeas_py.gate.artifacts import _normal_reference, _normal_url, image_reference

    reference = image_reference(written)  # what it is given: the host in lower case, Docker Hub named
    full = _normal_url("https", reference, (443, 80) if http else (443,)).uri.removeprefix("https://")
    assert _normal_reference(reference, http) == full
