"""parse_report across every format: valid Grafeas out, stable keys, and errors that say where."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json

import pytest

from grafeas_py.errors import InvalidArgument
from grafeas_py.ingest import FORMATS, occurrence_key, parse_report
from grafeas_py.ingest.plan import safe_note_id

from .support import IMAGE, NOTES_ONLY, NOW, VALID, VALID_CASES, assert_valid_grafeas, ingest, raw


def test_every_format_has_fixtures():
    assert (
        set(FORMATS)
        == set(VALID)
        == {
            "trivy",
            "grype",
            "clair",
            "spdx",
            "cyclonedx",
            "slsa",
            "junit",
            "dsse",
            "openvex",
            "csaf",
        }
    )


@pytest.mark.parametrize("format,fixture", VALID_CASES)
def test_every_note_and_occurrence_is_valid_canonical_grafeas(format, fixture):
    plan = ingest(format, fixture)
    assert plan.occurrences or format in NOTES_ONLY and plan.notes
    assert_valid_grafeas(plan)
    assert plan.format == format and plan.resource_uri == IMAGE and plan.project == "payments"
    assert plan.document_sha256 == hashlib.sha256(raw(fixture)).hexdigest()


@pytest.mark.parametrize("format,fixture", VALID_CASES)
def test_the_same_report_twice_gives_the_same_plan(format, fixture):
    first, second = ingest(format, fixture), ingest(format, fixture, now=NOW + dt.timedelta(hours=1))
    assert [o.key for o in first.occurrences] == [o.key for o in second.occurrences]
    assert first.notes.keys() == second.notes.keys()


JSON_CASES = [(format, fixture) for format, fixture in VALID_CASES if format != "junit"]
BYTE_ORDER_MARKS = {
    "UTF-16LE": (codecs.BOM_UTF16_LE, "utf-16-le"),  # what PowerShell 5's `>` writes
    "UTF-16BE": (codecs.BOM_UTF16_BE, "utf-16-be"),
    "UTF-32LE": (codecs.BOM_UTF32_LE, "utf-32-le"),
    "UTF-32BE": (codecs.BOM_UTF32_BE, "utf-32-be"),
}


def _bodies(plan) -> str:
    """The plan's notes and occurrence bodies, with the digest of the document's own bytes left out."""
    bodies = json.dumps([plan.notes, [o.body for o in plan.occurrences]], sort_keys=True)
    return bodies.replace(plan.document_sha256, "<document sha256>")


@pytest.mark.parametrize("encoding", BYTE_ORDER_MARKS)
@pytest.mark.parametrize("format,fixture", JSON_CASES)
def test_a_json_report_in_utf_16_or_utf_32_with_a_byte_order_mark_reads_as_in_utf_8(format, fixture, encoding):
    bom, codec = BYTE_ORDER_MARKS[encoding]
    encoded = bom + raw(fixture).decode().encode(codec)
    assert _bodies(ingest(format, encoded)) == _bodies(ingest(format, fixture))


@pytest.mark.parametrize("encoding", ["UTF-16LE", "UTF-32BE"])
def test_a_report_its_byte_order_mark_misdescribes_says_so(encoding):
    bom, codec = BYTE_ORDER_MARKS[encoding]
    encoded = bom + raw("trivy/clean-image.json").decode().encode(codec)
    with pytest.raises(InvalidArgument, match=f"not valid {encoding}, as its byte order mark says it is: .* at byte"):
        ingest("trivy", encoded[:-1])


@pytest.mark.parametrize("format,fixture", VALID_CASES)
def test_keys_are_sha256_hex_and_distinct_within_a_report(format, fixture):
    keys = [o.key for o in ingest(format, fixture).occurrences]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in keys)


@pytest.mark.parametrize("format,fixture", VALID_CASES)
def test_keys_depend_on_the_resource(format, fixture):
    other = IMAGE.replace("payments/api", "payments/api-canary")
    first, second = ingest(format, fixture), ingest(format, fixture, resource_uri=other)
    assert not {o.key for o in first.occurrences} & {o.key for o in second.occurrences}


@pytest.mark.parametrize("format,fixture", VALID_CASES)
def test_bodies_share_no_objects(format, fixture):
    """A caller may edit one body (fill in an SBOM location, say) without touching another."""
    plan = ingest(format, fixture)
    seen: set[int] = set()

    def walk(value):
        if isinstance(value, (dict, list)):
            assert id(value) not in seen
            seen.add(id(value))
            for item in value.values() if isinstance(value, dict) else value:
                walk(item)

    for body in [*plan.notes.values(), *(o.body for o in plan.occurrences)]:
        walk(body)


def test_the_key_is_the_hash_of_format_resource_and_identity():
    expected = hashlib.sha256(json.dumps(["trivy", IMAGE, "CVE-1", "pkg"], separators=(",", ":")).encode())
    assert occurrence_key("trivy", IMAGE, ("CVE-1", "pkg")) == expected.hexdigest()
    # No separator inside a value can make two identities collide.
    assert occurrence_key("trivy", IMAGE, ("a,b", "c")) != occurrence_key("trivy", IMAGE, ("a", "b,c"))


MALFORMED = [
    ("trivy", "trivy/truncated.json", "not valid JSON: unexpected end of data at line 227, column 74"),
    ("trivy", "trivy/unknown-severity.json", "Results[1].Vulnerabilities[1].Severity: unknown value 'HUGE'"),
    ("trivy", "trivy/missing-package-name.json", "Results[0].Vulnerabilities[2].PkgName: is required"),
    ("trivy", "trivy/schema-version-1.json", "SchemaVersion: unsupported value 1; expected 2"),
    ("grype", "grype/truncated.json", "not valid JSON"),
    ("grype", "grype/unknown-fix-state.json", "matches[2].vulnerability.fix.state: unknown value 'maybe-later'"),
    ("clair", "clair/truncated.json", "not valid JSON"),
    ("clair", "clair/dangling-vulnerability.json", "package_vulnerabilities['57'][1]: no vulnerability '9999999'"),
    ("spdx", "spdx/truncated.spdx.json", "not valid JSON"),
    ("spdx", "spdx/bad-version-type.spdx.json", "packages[3].versionInfo: expected a string, got a number"),
    ("spdx", "spdx/unsupported-version.spdx.json", "spdxVersion: unknown value 'SPDX-3.0'"),
    ("cyclonedx", "cyclonedx/truncated.cdx.json", "not valid JSON"),
    ("cyclonedx", "cyclonedx/unknown-vex-state.cdx.json", "vulnerabilities[1].analysis.state: unknown value"),
    ("slsa", "slsa/truncated.json", "not valid JSON"),
    ("slsa", "slsa/wrong-predicate-type.json", "predicateType: expected 'https://slsa.dev/provenance/v1'"),
    ("slsa", "slsa/missing-builder-id.json", "predicate.runDetails.builder.id: is required"),
    ("dsse", "dsse/truncated.json", "not valid JSON"),
    ("dsse", "dsse/bad-base64.json", "payload: not valid base64"),
    ("dsse", "dsse/truncated-payload.json", "payload: the decoded payload is not valid JSON"),
    ("junit", "junit/truncated.xml", "not well-formed XML: unclosed token at line 6, column 5"),
    ("junit", "junit/billion-laughs.xml", "line 2: DTDs and entities are not allowed"),
    ("junit", "junit/external-entity.xml", "line 2: DTDs and entities are not allowed"),
    ("junit", "junit/wrong-root.xml", "line 2: the root element must be <testsuites> or <testsuite>, got <report>"),
    ("junit", "junit/testcase-without-name.xml", "line 5: <testcase> needs a name attribute"),
]


@pytest.mark.parametrize("format,fixture,message", MALFORMED)
def test_malformed_reports_are_refused_with_the_place(format, fixture, message):
    with pytest.raises(InvalidArgument) as caught:
        ingest(format, fixture)
    assert caught.value.message.startswith(f"invalid {format} report: ")
    assert message in caught.value.message


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("document", [b"", b"[]", b'"text"', b"{}", b"<testsuites", b"\xff\xfe"])
def test_wrong_documents_are_invalid_argument_in_every_format(format, document):
    with pytest.raises(InvalidArgument):
        ingest(format, document)


def test_unknown_format_names_the_supported_ones():
    with pytest.raises(InvalidArgument, match="unknown report format 'sarif'; supported: trivy, grype"):
        ingest("sarif", b"{}")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"project": ""}, "project must not be empty"),
        ({"note_project": "a/b"}, "note project must not contain '/'"),
        ({"resource_uri": ""}, "resourceUri is required"),
        ({"resource_uri": "https://x/" + "a" * 2048}, "resourceUri must be at most 2048 characters"),
    ],
)
def test_bad_arguments_are_invalid_argument(kwargs, message):
    args = {"resource_uri": IMAGE, "project": "p", "note_project": "n", "now": NOW} | kwargs
    with pytest.raises(InvalidArgument, match=message):
        parse_report("trivy", raw("trivy/clean-image.json"), **args)


def test_a_naive_now_is_taken_as_utc():
    naive = ingest("clair", "clair/clean-image.json", now=dt.datetime(2024, 12, 3, 12, 0))
    assert naive.occurrences[0].body["discovery"]["lastScanTime"] == "2024-12-03T12:00:00Z"


def test_note_ids_made_from_free_text_are_safe_and_kept_apart():
    assert safe_note_id("CVE-2024-6119") == "CVE-2024-6119"
    babel, plain = safe_note_id("@babel/core"), safe_note_id("babel-core")
    assert babel.startswith("babel-core-") and babel != plain == "babel-core"
    assert safe_note_id("RHSA-2024:1234") != safe_note_id("RHSA-2024/1234")
    long = safe_note_id("x/" * 200)
    assert len(long) <= 109 and "/" not in long
    assert safe_note_id("..").startswith("id-") and safe_note_id("///").startswith("id-")
