"""Whatever a report holds, ingestion returns valid Grafeas or raises InvalidArgument: never another error."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grafeas_py.errors import InvalidArgument

from .support import VALID_CASES, assert_valid_grafeas, ingest, raw

JSON_CASES = [(fmt, name) for fmt, name in VALID_CASES if name.endswith(".json")]
XML_CASES = [(fmt, name) for fmt, name in VALID_CASES if name.endswith(".xml")]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(doc, path=()):
    yield path
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from _paths(value, (*path, key))


def _replace(doc, path, value):
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _ingest_or_refuse(format: str, data: bytes) -> None:
    try:
        plan = ingest(format, data)
    except InvalidArgument:
        return
    assert_valid_grafeas(plan)


@pytest.mark.parametrize("format,fixture", JSON_CASES)
@SETTINGS
@given(data=st.data(), value=json_values)
def test_any_member_replaced_by_any_json_value(format, fixture, data, value):
    doc = json.loads(raw(fixture))
    path = data.draw(st.sampled_from(list(_paths(doc))))
    _ingest_or_refuse(format, json.dumps(_replace(doc, path, value)).encode())


@pytest.mark.parametrize("format,fixture", JSON_CASES + XML_CASES)
@SETTINGS
@given(data=st.data())
def test_any_truncation_or_byte_change(format, fixture, data):
    document = raw(fixture)
    cut = data.draw(st.integers(0, len(document)))
    at = data.draw(st.integers(0, len(document) - 1))
    byte = data.draw(st.integers(0, 255))
    _ingest_or_refuse(format, document[:cut])
    _ingest_or_refuse(format, document[:at] + bytes([byte]) + document[at + 1 :])


def test_nul_characters_are_refused_where_they_are():
    doc = json.loads(raw("trivy/alpine-app-image.json"))
    doc["Results"][0]["Vulnerabilities"][0]["Title"] = "bad\x00title"
    with pytest.raises(
        InvalidArgument, match=r"Results\[0\]\.Vulnerabilities\[0\]\.Title: text may not contain the NUL"
    ):
        ingest("trivy", json.dumps(doc).encode())


def test_an_xml_encoding_python_does_not_know_is_invalid_argument():
    with pytest.raises(InvalidArgument, match="unknown encoding"):
        ingest("junit", b'<?xml version="1.0" encoding="utf-9"?><testsuites/>')
